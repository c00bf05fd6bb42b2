{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "archetype.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: <release>-<chart>, or <release> when it already contains the chart
name. Truncated so that component suffixes still fit DNS limits.
*/}}
{{- define "archetype.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: <chart>-<version>.
*/}}
{{- define "archetype.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "archetype.labels" -}}
helm.sh/chart: {{ include "archetype.chart" . }}
{{ include "archetype.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: archetype
{{- end }}

{{/*
Selector labels (without the component).
*/}}
{{- define "archetype.selectorLabels" -}}
app.kubernetes.io/name: {{ include "archetype.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Component names.
*/}}
{{- define "archetype.coordinatorName" -}}
{{- printf "%s-coordinator" (include "archetype.fullname" .) }}
{{- end }}

{{- define "archetype.workerName" -}}
{{- printf "%s-worker" (include "archetype.fullname" .) }}
{{- end }}

{{/*
The headless Service that gives each worker pod the DNS name
<pod>.<this>.<namespace>.svc.<clusterDomain>.
*/}}
{{- define "archetype.workerHeadlessName" -}}
{{- printf "%s-worker-peers" (include "archetype.fullname" .) }}
{{- end }}

{{- define "archetype.retrainName" -}}
{{- printf "%s-retrain" (include "archetype.fullname" .) }}
{{- end }}

{{- define "archetype.configName" -}}
{{- printf "%s-job" (include "archetype.fullname" .) }}
{{- end }}

{{/*
ServiceAccount of every pod.
*/}}
{{- define "archetype.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "archetype.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The coordinator's gRPC endpoint inside the namespace: https:// with mutual TLS.
*/}}
{{- define "archetype.coordinatorUrl" -}}
{{- printf "%s://%s:%d" (ternary "https" "http" .Values.tls.enabled) (include "archetype.coordinatorName" .) (int .Values.coordinator.port) }}
{{- end }}

{{/*
Secrets: the token, the object store variables, the TLS material.
*/}}
{{- define "archetype.tokenSecretName" -}}
{{- .Values.auth.token.existingSecret | default (printf "%s-token" (include "archetype.fullname" .)) }}
{{- end }}

{{- define "archetype.objectStoreSecretName" -}}
{{- printf "%s-object-store" (include "archetype.fullname" .) }}
{{- end }}

{{- define "archetype.tlsCoordinatorSecret" -}}
{{- .Values.tls.coordinatorSecret | default (printf "%s-coordinator-tls" (include "archetype.fullname" .)) }}
{{- end }}

{{- define "archetype.tlsClientSecret" -}}
{{- .Values.tls.clientSecret | default (printf "%s-client-tls" (include "archetype.fullname" .)) }}
{{- end }}

{{/*
Where the secrets are mounted (files, never env values or args).
*/}}
{{- define "archetype.tokenFile" -}}/etc/archetype/token/token{{- end }}
{{- define "archetype.tlsDir" -}}/etc/archetype/tls{{- end }}
{{- define "archetype.jobConfigFile" -}}/etc/archetype/job/job.toml{{- end }}

{{/*
Checks of values that the schema cannot express; included once by the coordinator Deployment
(always rendered), so that `helm template` / `install` fail with these messages.
*/}}
{{- define "archetype.validate" -}}
{{- if le (int .Values.coordinator.leaseMs) (int .Values.coordinator.heartbeatMs) }}
{{- fail (printf "coordinator.leaseMs (%d) must exceed coordinator.heartbeatMs (%d)" (int .Values.coordinator.leaseMs) (int .Values.coordinator.heartbeatMs)) }}
{{- end }}
{{- if gt (int .Values.workers.gpu) 1 }}
{{- fail (printf "workers.gpu is %d, but each worker pod is one process that drives at most one GPU: set workers.gpu=1 and workers.replicas to the number of GPUs" (int .Values.workers.gpu)) }}
{{- end }}
{{- if and (eq (int .Values.workers.gpu) 0) (eq .Values.workers.device "cuda") }}
{{- fail "workers.device is cuda but workers.gpu is 0: request a GPU (workers.gpu=1) or use device auto/cpu" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.enabled) }}
{{- fail "tls.certManager.enabled needs tls.enabled" }}
{{- end }}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef.name is required when tls.certManager.enabled (a CA or Vault issuer that fills ca.crt)" }}
{{- end }}
{{- $ports := list (int .Values.coordinator.port) (int .Values.coordinator.healthPort) }}
{{- if .Values.metrics.enabled }}{{ $ports = append $ports (int .Values.coordinator.metricsPort) }}{{ end }}
{{- if ne (len $ports) (len (uniq $ports)) }}
{{- fail "coordinator.port, coordinator.healthPort and coordinator.metricsPort must differ" }}
{{- end }}
{{- $wports := list (int .Values.workers.timelyPort) (int .Values.workers.healthPort) }}
{{- if .Values.metrics.enabled }}{{ $wports = append $wports (int .Values.workers.metricsPort) }}{{ end }}
{{- if ne (len $wports) (len (uniq $wports)) }}
{{- fail "workers.timelyPort, workers.healthPort and workers.metricsPort must differ" }}
{{- end }}
{{- end }}

{{/*
Images. GPU workers default to the "-gpu" tag of the same repository (deploy/Dockerfile.gpu).
*/}}
{{- define "archetype.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{- define "archetype.workerImage" -}}
{{- $repo := .Values.workers.image.repository | default .Values.image.repository }}
{{- $base := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- $tag := .Values.workers.image.tag | toString }}
{{- if not $tag }}
{{- $tag = ternary (printf "%s-gpu" $base) $base (gt (int .Values.workers.gpu) 0) }}
{{- end }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/*
Environment shared by every container: log format, extra env.
*/}}
{{- define "archetype.commonEnv" -}}
- name: ARCHETYPE_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Environment of the coordinator's clients (workers) for the token and TLS: file paths only.
*/}}
{{- define "archetype.clientAuthEnv" -}}
{{- if .Values.auth.token.enabled }}
- name: ARCHETYPE_TOKEN_FILE
  value: {{ include "archetype.tokenFile" . | quote }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: ARCHETYPE_TLS_CA
  value: {{ printf "%s/ca.crt" (include "archetype.tlsDir" .) | quote }}
- name: ARCHETYPE_TLS_CERT
  value: {{ printf "%s/tls.crt" (include "archetype.tlsDir" .) | quote }}
- name: ARCHETYPE_TLS_KEY
  value: {{ printf "%s/tls.key" (include "archetype.tlsDir" .) | quote }}
{{- with .Values.tls.serverName }}
- name: ARCHETYPE_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
envFrom with the object store credentials Secrets (existing and/or chart-created).
*/}}
{{- define "archetype.envFrom" -}}
{{- if or .Values.objectStore.existingSecret .Values.objectStore.env -}}
envFrom:
{{- with .Values.objectStore.existingSecret }}
  - secretRef:
      name: {{ . | quote }}
{{- end }}
{{- if .Values.objectStore.env }}
  - secretRef:
      name: {{ include "archetype.objectStoreSecretName" . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Volume mounts and volumes every pod has: a writable /tmp (the root filesystem is read-only),
the token and TLS secrets when enabled (`tlsSecret` picks the coordinator's or the clients'),
plus extraVolumeMounts / extraVolumes. Called with (dict "ctx" $ "tlsSecret" NAME).
*/}}
{{- define "archetype.volumeMounts" -}}
{{- $ := .ctx }}
- name: tmp
  mountPath: /tmp
{{- if $.Values.auth.token.enabled }}
- name: token
  mountPath: {{ dir (include "archetype.tokenFile" $) }}
  readOnly: true
{{- end }}
{{- if $.Values.tls.enabled }}
- name: tls
  mountPath: {{ include "archetype.tlsDir" $ }}
  readOnly: true
{{- end }}
{{- with $.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "archetype.volumes" -}}
{{- $ := .ctx }}
- name: tmp
  {{- if $.Values.tmpSizeLimit }}
  emptyDir:
    sizeLimit: {{ $.Values.tmpSizeLimit }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- if $.Values.auth.token.enabled }}
- name: token
  secret:
    secretName: {{ include "archetype.tokenSecretName" $ }}
    defaultMode: 0440
    items:
      - key: {{ $.Values.auth.token.key | quote }}
        path: {{ base (include "archetype.tokenFile" $) }}
{{- end }}
{{- if $.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .tlsSecret }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- with $.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
A gRPC probe on the health port: (dict "port" N "probe" VALUES).
*/}}
{{- define "archetype.grpcProbe" -}}
grpc:
  port: {{ int .port }}
  {{- with .probe.service }}
  service: {{ . | quote }}
  {{- end }}
{{- with .probe.periodSeconds }}
periodSeconds: {{ int . }}
{{- end }}
{{- with .probe.timeoutSeconds }}
timeoutSeconds: {{ int . }}
{{- end }}
{{- with .probe.failureThreshold }}
failureThreshold: {{ int . }}
{{- end }}
{{- end }}
