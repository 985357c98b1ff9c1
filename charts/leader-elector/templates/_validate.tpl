{{/*
Refuses invalid combinations at render time with a message naming the value to fix, so a bad
install fails in `helm install` instead of as a crash-looping pod. Included by deployment.yaml and
service-leader.yaml (whichever helm renders first reports it); every render evaluates them,
also `helm template --show-only` of other templates.
*/}}
{{- define "leader-elector.validate" -}}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount must be at least 1 (got %v)" .Values.replicaCount) }}
{{- end }}
{{- $lease := include "leader-elector.leaseName" . }}
{{- if or (gt (len $lease) 253) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $lease)) }}
{{- fail (printf "leaseName %q is not a valid object name (lower-case DNS subdomain, at most 253 characters)" $lease) }}
{{- end }}
{{- include "leader-elector.validateTimings" . }}
{{- include "leader-elector.validateLeaderLabel" . }}
{{- $leaderKey := (include "leader-elector.leaderLabelParts" . | fromJson).key }}
{{- if hasKey (include "leader-elector.selectorLabels" . | fromYaml) $leaderKey }}
{{- fail (printf "leaderLabel key %q is one of the pod selector labels: use a key of its own, e.g. leader-elector/leader" $leaderKey) }}
{{- end }}
{{- if .Values.sidecar.enabled }}
{{- if not .Values.sidecar.container.image }}
{{- fail "sidecar.enabled is true but sidecar.container.image is empty: the sidecar mode runs your application container next to the elector, so give its image" }}
{{- end }}
{{- if and .Values.leaderService.enabled (not (or .Values.leaderService.targetPort .Values.sidecar.container.ports)) }}
{{- fail "sidecar.enabled: set leaderService.targetPort or give sidecar.container at least one port, so the leader Service knows where your application listens" }}
{{- end }}
{{- range .Values.sidecar.container.ports }}
{{- if eq (int .containerPort) (int $.Values.http.port) }}
{{- fail (printf "sidecar.container port %v collides with the elector's http.port %v: change one of them" .containerPort $.Values.http.port) }}
{{- end }}
{{- if eq (toString .name) "http" }}
{{- fail "sidecar.container port name \"http\" is the elector's port name (the metrics Service targets it): rename yours" }}
{{- end }}
{{- end }}
{{- range .Values.sidecar.container.volumeMounts }}
{{- if eq (toString .name) "kube-api-access" }}
{{- fail "sidecar.container must not mount the volume \"kube-api-access\": it holds the elector's ServiceAccount token, which only the elector container gets" }}
{{- end }}
{{- end }}
{{- if eq (default "app" .Values.sidecar.container.name) "leader-elector" }}
{{- fail "sidecar.container.name must not be \"leader-elector\": that is the elector container's name" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "leader-elector.validateTimings" -}}
{{- $e := .Values.election }}
{{- $lease := include "leader-elector.durationMs" (dict "name" "election.leaseDuration" "value" $e.leaseDuration) | atoi }}
{{- $renew := include "leader-elector.durationMs" (dict "name" "election.renewDeadline" "value" $e.renewDeadline) | atoi }}
{{- $retry := include "leader-elector.durationMs" (dict "name" "election.retryPeriod" "value" $e.retryPeriod) | atoi }}
{{- $request := include "leader-elector.durationMs" (dict "name" "election.requestTimeout" "value" $e.requestTimeout) | atoi }}
{{- $reconcile := include "leader-elector.durationMs" (dict "name" "reconcileInterval" "value" .Values.reconcileInterval) | atoi }}
{{- if or (eq $lease 0) (ne (mod $lease 1000) 0) }}
{{- fail (printf "election.leaseDuration %v must be a positive whole number of seconds (leaseDurationSeconds is an integer)" $e.leaseDuration) }}
{{- end }}
{{- if le $lease $renew }}
{{- fail (printf "election.leaseDuration (%v) must be greater than election.renewDeadline (%v): the leader must stop acting before a follower may take over" $e.leaseDuration $e.renewDeadline) }}
{{- end }}
{{- /* client-go's JitterFactor 1.2, in integers: renew*10 > retry*12 */}}
{{- if or (eq $retry 0) (le (mul $renew 10) (mul $retry 12)) }}
{{- fail (printf "election.renewDeadline (%v) must be greater than 1.2 x election.retryPeriod (%v), and retryPeriod positive" $e.renewDeadline $e.retryPeriod) }}
{{- end }}
{{- if or (eq $request 0) (ge $request $renew) }}
{{- fail (printf "election.requestTimeout (%v) must be positive and below election.renewDeadline (%v)" $e.requestTimeout $e.renewDeadline) }}
{{- end }}
{{- if eq $reconcile 0 }}
{{- fail "reconcileInterval must be positive" }}
{{- end }}
{{- end }}

{{/* Same rules as the binary's --leader-label and the apiserver's label validation. */}}
{{- define "leader-elector.validateLeaderLabel" -}}
{{- $text := toString .Values.leaderLabel }}
{{- if not (contains "=" $text) }}
{{- fail (printf "leaderLabel %q must be KEY=VALUE, e.g. leader-elector/leader=true" $text) }}
{{- end }}
{{- $label := include "leader-elector.leaderLabelParts" . | fromJson }}
{{- $key := $label.key }}
{{- $name := $key }}
{{- $prefix := "" }}
{{- if contains "/" $key }}
{{- $prefix = regexReplaceAll "/.*$" $key "" }}
{{- $name = regexReplaceAll "^[^/]*/" $key "" }}
{{- end }}
{{- $dns := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" }}
{{- $nameRe := "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$" }}
{{- if or (and (contains "/" $key) (or (gt (len $prefix) 253) (not (regexMatch $dns $prefix)))) (gt (len $name) 63) (not (regexMatch $nameRe $name)) }}
{{- fail (printf "leaderLabel key %q is not a valid label key ([dns-prefix/]name, name at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends)" $key) }}
{{- end }}
{{- if or (gt (len $label.value) 63) (not (regexMatch $nameRe $label.value)) }}
{{- fail (printf "leaderLabel value %q is not a valid non-empty label value (at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends)" $label.value) }}
{{- end }}
{{- end }}
