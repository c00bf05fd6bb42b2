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
The coordinator's gRPC endpoint inside the namespace.
*/}}
{{- define "archetype.coordinatorUrl" -}}
{{- printf "http://%s:%d" (include "archetype.coordinatorName" .) (int .Values.coordinator.port) }}
{{- end }}

{{/*
Images.
*/}}
{{- define "archetype.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{- define "archetype.workerImage" -}}
{{- $repo := .Values.workers.image.repository | default .Values.image.repository }}
{{- $tag := .Values.workers.image.tag | default .Values.image.tag | default .Chart.AppVersion | toString }}
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
envFrom with the object store credentials Secret, when one is named.
*/}}
{{- define "archetype.envFrom" -}}
{{- if .Values.objectStore.existingSecret -}}
envFrom:
  - secretRef:
      name: {{ .Values.objectStore.existingSecret | quote }}
{{- end }}
{{- end }}

{{/*
Volume mounts and volumes every pod has: a writable /tmp (the root filesystem is read-only)
plus extraVolumeMounts / extraVolumes.
*/}}
{{- define "archetype.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "archetype.volumes" -}}
- name: tmp
  {{- if .Values.tmpSizeLimit }}
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
