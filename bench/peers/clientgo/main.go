// clientgo-elector: a test-only peer for interop tests and benchmarks, modelled on client-go's
// examples/leader-election (same LeaseLock, RunOrDie, ReleaseOnCancel: true), with the
// timings as flags and one timestamped line per leadership event on stdout:
//   <RFC3339Nano UTC> <id> started leading | stopped leading | new leader <holder>
// It also counts the HTTP requests it sends (by verb and status code, at the transport) and
// prints them on SIGUSR1 and at exit, so benchmarks can report its API traffic
// (self-reported, like our own api_requests_total metric).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

var (
	outMu sync.Mutex
	id    string
)

func emit(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s %s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"), id, fmt.Sprintf(format, args...))
}

// counter counts requests at the transport: verb (watch detected from the query) and code.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	next   http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	verb := r.Method
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		verb = "WATCH"
	}
	resp, err := c.next.RoundTrip(r)
	code := "0"
	if err == nil {
		code = fmt.Sprint(resp.StatusCode)
	}
	c.mu.Lock()
	c.counts[verb+" "+code]++
	c.mu.Unlock()
	return resp, err
}

func (c *counter) report() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.counts))
	total := 0
	for k, v := range c.counts {
		keys = append(keys, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", ":"), v))
		total += v
	}
	c.mu.Unlock()
	sort.Strings(keys)
	emit("api requests total=%d %s", total, strings.Join(keys, " "))
}

func main() {
	klog.InitFlags(nil)
	var kubeconfig, name, namespace string
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	host, _ := os.Hostname()
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	flag.StringVar(&namespace, "namespace", "default", "the Lease's namespace")
	flag.StringVar(&name, "lease-name", "", "the Lease's name (required)")
	flag.StringVar(&id, "id", fmt.Sprintf("clientgo-%s-%d", host, os.Getpid()), "holder identity")
	flag.DurationVar(&leaseDuration, "lease-duration", 15*time.Second, "LeaseDuration")
	flag.DurationVar(&renewDeadline, "renew-deadline", 10*time.Second, "RenewDeadline")
	flag.DurationVar(&retryPeriod, "retry-period", 2*time.Second, "RetryPeriod")
	flag.Parse()
	if name == "" {
		klog.Fatal("--lease-name is required")
	}

	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		klog.Fatal(err)
	}
	cfg.UserAgent = "clientgo-elector/" + id
	cnt := &counter{counts: map[string]int{}}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt })
	client := clientset.NewForConfigOrDie(cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	go func() {
		for s := range sig {
			if s == syscall.SIGUSR1 {
				cnt.report()
				continue
			}
			emit("received %s, releasing", s)
			cancel()
		}
	}()

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: namespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	emit("starting lease=%s/%s lease-duration=%s renew-deadline=%s retry-period=%s", namespace, name, leaseDuration, renewDeadline, retryPeriod)
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				emit("started leading")
				<-ctx.Done()
			},
			OnStoppedLeading: func() { emit("stopped leading") },
			OnNewLeader: func(identity string) {
				if identity != id {
					emit("new leader %s", identity)
				}
			},
		},
	})
	// RunOrDie returns after the release (ReleaseOnCancel) or after losing the lease.
	cnt.report()
	emit("exiting")
}
