{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "driftwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed with the chart name unless it already holds it.
*/}}
{{- define "driftwatch.fullname" -}}
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

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "driftwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels on every object.
*/}}
{{- define "driftwatch.labels" -}}
helm.sh/chart: {{ include "driftwatch.chart" . }}
{{ include "driftwatch.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: driftwatch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (immutable on Deployments: never add to them).
*/}}
{{- define "driftwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the controller's ServiceAccount.
*/}}
{{- define "driftwatch.controllerServiceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "driftwatch.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the check pods (CronJobs of each DriftCheck) run as.
*/}}
{{- define "driftwatch.checkServiceAccountName" -}}
{{- if .Values.check.serviceAccount.create }}
{{- default (printf "%s-check" (include "driftwatch.fullname" .)) .Values.check.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.check.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the inference ServiceAccount.
*/}}
{{- define "driftwatch.inferenceServiceAccountName" -}}
{{- if .Values.inference.serviceAccount.create }}
{{- default (printf "%s-inference" (include "driftwatch.fullname" .)) .Values.inference.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.inference.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Per-component names and labels.
*/}}
{{- define "driftwatch.inference.fullname" -}}
{{- printf "%s-inference" (include "driftwatch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "driftwatch.controller.fullname" -}}
{{- printf "%s-controller" (include "driftwatch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "driftwatch.inference.selectorLabels" -}}
{{ include "driftwatch.selectorLabels" . }}
app.kubernetes.io/component: inference
{{- end }}

{{- define "driftwatch.controller.selectorLabels" -}}
{{ include "driftwatch.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
Images: the tag defaults to the chart's appVersion. The check pods use the controller image.
*/}}
{{- define "driftwatch.inference.image" -}}
{{- printf "%s:%s" .Values.inference.image.repository (default .Chart.AppVersion .Values.inference.image.tag) }}
{{- end }}

{{- define "driftwatch.controller.image" -}}
{{- printf "%s:%s" .Values.controller.image.repository (default .Chart.AppVersion .Values.controller.image.tag) }}
{{- end }}

{{- define "driftwatch.check.image" -}}
{{- if .Values.check.image.repository }}
{{- printf "%s:%s" .Values.check.image.repository (default .Chart.AppVersion .Values.check.image.tag) }}
{{- else }}
{{- include "driftwatch.controller.image" . }}
{{- end }}
{{- end }}

{{- define "driftwatch.check.imagePullPolicy" -}}
{{- default .Values.controller.image.pullPolicy .Values.check.image.pullPolicy }}
{{- end }}

{{/*
Claim name of the data volume (capture, reference dataset, reports).
*/}}
{{- define "driftwatch.dataClaimName" -}}
{{- default (printf "%s-data" (include "driftwatch.fullname" .)) .Values.data.persistence.existingClaim }}
{{- end }}

{{/*
Labels for the monitoring objects: common labels plus the ones the Prometheus operator selects on.
*/}}
{{- define "driftwatch.monitoringLabels" -}}
{{ include "driftwatch.labels" . }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}
