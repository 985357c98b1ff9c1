'use strict'
// Test-only peer: runs one @codedependant/kubernetes-leader-election Elector against a real
// apiserver, for kube-leader-elector's interop tests and benchmarks.
//
// Environment:
//   KUBECONFIG          kubeconfig to use (required outside a pod). The package reads it through
//                       @kubernetes/client-node's KubeConfig.loadFromDefault(), which honours
//                       $KUBECONFIG first (then ~/.kube/config, then in-cluster).
//   LEASE_NAME          the Lease's name (required)
//   LEASE_NAMESPACE     its namespace (default "default")
//   IDENTITY            holder identity (default node-<hostname>-<pid>)
//   RENEW_INTERVAL_MS   how often the leader renews (package default 10000)
//   LEASE_DURATION_SEC  lease duration (package default 20)
//
// The package only talks to Kubernetes when KUBERNETES_SERVICE_HOST is set; without it, it
// assumes leadership (standalone). Outside a pod we set it to the kubeconfig's server host, so
// the elector really runs against the apiserver named by $KUBECONFIG.
//
// stdout, one line per event: <ISO-8601 UTC> <identity> acquired | lost | renewed | ...
// SIGUSR1 (and exit) print "api requests total=N VERB:CODE=n ...", counted at node's
// http/https.request (self-reported, like our own api_requests_total metric).
const http = require('node:http')
const https = require('node:https')
const os = require('node:os')

const identity = process.env.IDENTITY || `node-${os.hostname()}-${process.pid}`
const line = (msg) => process.stdout.write(`${new Date().toISOString()} ${identity} ${msg}\n`)
const die = (msg) => { process.stderr.write(`node peer: ${msg}\n`); process.exit(2) }

// Count requests before the client library loads.
const counts = new Map()
function wrap(mod) {
  const orig = mod.request
  mod.request = function (...args) {
    const req = orig.apply(this, args)
    let verb = req.method || 'GET'
    if (/[?&]watch=(true|1)/.test(req.path || '')) verb = 'WATCH'
    req.once('response', (res) => { const k = `${verb}:${res.statusCode}`; counts.set(k, (counts.get(k) || 0) + 1) })
    req.once('error', () => { const k = `${verb}:0`; counts.set(k, (counts.get(k) || 0) + 1) })
    return req
  }
}
wrap(http); wrap(https)
function report() {
  let total = 0
  const parts = [...counts.entries()].sort().map(([k, v]) => { total += v; return `${k}=${v}` })
  line(`api requests total=${total} ${parts.join(' ')}`)
}

const leaseName = process.env.LEASE_NAME || die('LEASE_NAME is required')
const namespace = process.env.LEASE_NAMESPACE || 'default'
const renewMs = Number(process.env.RENEW_INTERVAL_MS || 10000)
const durationSec = Number(process.env.LEASE_DURATION_SEC || 20)
if (!(renewMs > 0) || !(durationSec > 0)) die('RENEW_INTERVAL_MS and LEASE_DURATION_SEC must be positive numbers')

if (!process.env.KUBERNETES_SERVICE_HOST) {
  if (!process.env.KUBECONFIG) die('neither KUBECONFIG nor KUBERNETES_SERVICE_HOST is set: the package would run standalone')
  const {KubeConfig} = require('@kubernetes/client-node')
  const kc = new KubeConfig()
  kc.loadFromDefault()
  const server = kc.getCurrentCluster()?.server || die(`no server in ${process.env.KUBECONFIG}`)
  process.env.KUBERNETES_SERVICE_HOST = new URL(server).hostname
}

const {Elector, EVENTS} = require('@codedependant/kubernetes-leader-election')
const logger = {
  child() { return this },
  fatal: (...a) => line(`log fatal ${fmt(a)}`),
  error: (...a) => line(`log error ${fmt(a)}`),
  warn: (...a) => line(`log warn ${fmt(a)}`),
  info: () => {}, debug: () => {}, trace: () => {},
}
function fmt(a) { return a.map((x) => (x instanceof Error ? x.message : typeof x === 'string' ? x : JSON.stringify(x))).join(' ').replace(/\s+/g, ' ') }

const elector = new Elector({
  identity, lease_name: leaseName, namespace,
  renew_interval_ms: renewMs, lease_duration_sec: durationSec,
  log: logger, auto_close: false,
})
elector.on(EVENTS.LEADERSHIP_ACQUIRED, () => line('acquired'))
elector.on(EVENTS.LEADERSHIP_LOST, () => line('lost'))
if (process.env.LOG_RENEWALS === '1') elector.on(EVENTS.LEASE_RENEWED, () => line('renewed'))

let stopping = false
async function shutdown(sig) {
  if (stopping) return
  stopping = true
  line(`received ${sig}, stopping (leader=${elector.current_leader})`)
  await elector.stop()
  report()
  line('exiting')
  process.exit(0)
}
// auto_close is off so that the release completes before we exit (the package's own
// handler calls stop() but nothing then exits the process).
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
process.on('SIGUSR1', report)

line(`starting lease=${namespace}/${leaseName} renew_interval_ms=${renewMs} lease_duration_sec=${durationSec} server-host=${process.env.KUBERNETES_SERVICE_HOST}`)
elector.start().catch((err) => line(`log error start failed: ${err.message}`))
