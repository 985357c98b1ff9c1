{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "leader-elector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "leader-elector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "leader-elector.leaseName" -}}
{{- default (include "leader-elector.fullname" .) .Values.leaseName }}
{{- end }}

{{- define "leader-elector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "leader-elector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "leader-elector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leader-elector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The selector labels as "k=v,k=v" for --pod-selector: the leader clears stale labels only on
this release's pods, so two releases sharing one leader label in a namespace keep their own.
*/}}
{{- define "leader-elector.podSelector" -}}
{{- $terms := list }}
{{- range $key, $value := include "leader-elector.selectorLabels" . | fromYaml }}
{{- $terms = append $terms (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $terms }}
{{- end }}

{{- define "leader-elector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "leader-elector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "leader-elector.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The leader label split at the first '=' into a dict {key, value}. Validated by "leader-elector.validate". */}}
{{- define "leader-elector.leaderLabelParts" -}}
{{- $parts := append (regexSplit "=" (toString .Values.leaderLabel) 2) "" }}
{{- dict "key" (index $parts 0) "value" (index $parts 1) | toJson }}
{{- end }}

{{/* The leader Service's selector: the pod selector labels plus the leader label. */}}
{{- define "leader-elector.leaderSelectorLabels" -}}
{{- $label := include "leader-elector.leaderLabelParts" . | fromJson }}
{{- include "leader-elector.selectorLabels" . }}
{{ $label.key }}: {{ $label.value | quote }}
{{- end }}

{{/*
A Go-style duration (e.g. 15s, 500ms, 1m30s) in milliseconds, parsed exactly as the binary's
parse_duration does (integers with ms, s, m or h), so the chart refuses what the binary would.
Call with (dict "name" "<values path>" "value" <duration>); the result is a string: pipe to atoi.
*/}}
{{- define "leader-elector.durationMs" -}}
{{- $text := toString .value }}
{{- if not (regexMatch "^([0-9]+(ms|s|m|h))+$" $text) }}
{{- fail (printf "%s: %q is not a duration (examples: 15s, 500ms, 1m30s)" .name $text) }}
{{- end }}
{{- $factor := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" $text -1 }}
{{- $digits := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul (atoi $digits) (get $factor (trimPrefix $digits .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* The container port (name or number) the leader Service routes to. */}}
{{- define "leader-elector.leaderTargetPort" -}}
{{- if .Values.leaderService.targetPort }}
{{- .Values.leaderService.targetPort }}
{{- else if .Values.sidecar.enabled }}
{{- $port := first .Values.sidecar.container.ports }}
{{- default $port.containerPort $port.name }}
{{- else }}
{{- print "http" }}
{{- end }}
{{- end }}

{{/*
Name of the ValidatingAdmissionPolicy and its binding. Both are cluster-scoped, so the name
carries the namespace: namespaces cannot contain dots, so "<namespace>.<fullname>" is unique
per release.
*/}}
{{- define "leader-elector.admissionPolicyName" -}}
{{- printf "%s.%s" .Release.Namespace (include "leader-elector.fullname" .) }}
{{- end }}

{{/* The username the apiserver gives this release's ServiceAccount. */}}
{{- define "leader-elector.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "leader-elector.serviceAccountName" .) }}
{{- end }}
