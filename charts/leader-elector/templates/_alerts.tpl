{{/*
The alert rules as a Prometheus rule-file `groups:` list, scoped to this release's lease and
namespace. Used by prometheusrule.yaml; hack/render-manifests.sh renders it with the default
values into monitoring/prometheus-rules.yaml, which promtool checks and unit-tests.
Prometheus' own {{ $labels }} templates are written as Go raw strings so Helm leaves them alone.
*/}}
{{- define "leader-elector.alertGroups" -}}
{{- $sel := printf "namespace=%q, lease=%q" .Release.Namespace (include "leader-elector.leaseName" .) }}
{{- $r := .Values.prometheusRule }}
groups:
  - name: leader-election
    rules:
      - alert: LeaderElectionNoLeader
        # `absent` also fires when no replica is scraped at all (all pods gone or crash-looping).
        expr: |-
          (sum by (namespace, lease) (leader_election_is_leader{ {{- $sel -}} }) == 0)
          or
          absent(leader_election_is_leader{ {{- $sel -}} })
        for: {{ $r.noLeaderFor }}
        labels:
          severity: critical
        annotations:
          summary: '{{`No leader for lease {{ $labels.namespace }}/{{ $labels.lease }}`}}'
          description: '{{`No replica has reported leadership of lease {{ $labels.namespace }}/{{ $labels.lease }} for`}} {{ $r.noLeaderFor }}. {{`Check the holder with kubectl get lease {{ $labels.lease }} -n {{ $labels.namespace }} and the logs of the pods.`}}'
      - alert: LeaderElectionRenewalsFailing
        expr: |-
          sum by (namespace, lease) (rate(leader_election_renewal_failures_total{ {{- $sel -}} }[5m])) > 0
        for: {{ $r.renewalFailuresFor }}
        labels:
          severity: warning
        annotations:
          summary: '{{`Lease renewals failing for {{ $labels.namespace }}/{{ $labels.lease }}`}}'
          description: '{{`The leader of {{ $labels.namespace }}/{{ $labels.lease }} keeps failing to renew ({{ $value | humanize }}/s); it steps down when its renew deadline passes. Look at leader_election_api_requests_total by code.`}}'
      - alert: LeaderElectionFlapping
        # A handover counts twice: the loser and the winner each count one transition.
        expr: |-
          sum by (namespace, lease) (increase(leader_election_leadership_transitions_total{ {{- $sel -}} }[{{ $r.flappingWindow }}])) > {{ $r.flappingThreshold }}
        labels:
          severity: warning
        annotations:
          summary: '{{`Leadership of {{ $labels.namespace }}/{{ $labels.lease }} is flapping`}}'
          description: '{{`{{ $value | humanize }} leadership transitions in the last`}} {{ $r.flappingWindow }} {{`for lease {{ $labels.namespace }}/{{ $labels.lease }}: renewals are too slow for the renew deadline, or pods keep restarting.`}}'
      - alert: LeaderElectionMultipleLeaders
        # A handover can overlap for a scrape or two; longer means split brain or a stale gauge.
        expr: |-
          sum by (namespace, lease) (leader_election_is_leader{ {{- $sel -}} }) > 1
        for: {{ $r.multipleLeadersFor }}
        labels:
          severity: critical
        annotations:
          summary: '{{`More than one leader for {{ $labels.namespace }}/{{ $labels.lease }}`}}'
          description: '{{`{{ $value }} replicas report leadership of {{ $labels.namespace }}/{{ $labels.lease }}.`}}'
      - alert: LeaderElectionLabelCount
        # Only the leader reports the count, after each label round (every reconcile interval):
        # a round that cannot clear a stale label, or cannot set its own, leaves it wrong.
        expr: |-
          max by (namespace, lease) (leader_election_labelled_pods{ {{- $sel -}} }) != 1
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: '{{`The leader Service of {{ $labels.namespace }}/{{ $labels.lease }} does not select exactly one pod`}}'
          description: '{{`{{ $value }} pods carry the leader label of lease {{ $labels.namespace }}/{{ $labels.lease }} after the leader''s label rounds: the leader Service routes to none or to more than one. Look at leader_election_label_reconcile_failures_total and the leader''s logs.`}}'
      - alert: LeaderElectionLabelNotOnHolder
        expr: |-
          min by (namespace, lease) (leader_election_label_matches_holder{ {{- $sel -}} }) == 0
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: '{{`The leader label of {{ $labels.namespace }}/{{ $labels.lease }} is not on the lease holder`}}'
          description: '{{`The holder of lease {{ $labels.namespace }}/{{ $labels.lease }} could not label its own pod: the leader Service does not route to the leader. Look at leader_election_label_reconcile_failures_total and the leader''s logs.`}}'
{{- end }}
