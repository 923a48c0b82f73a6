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

{{/*
Models: every entry checked once (names and capture prefixes unique, object names within 63 characters).
The schema already requires exactly one source per model.
*/}}
{{- define "driftwatch.validateModels" -}}
{{- $names := dict }}
{{- $prefixes := dict }}
{{- if not .Values.models }}
{{- fail "models: list at least one model (the default values serve the demo model, `source: {builtin: true}`)" }}
{{- end }}
{{- range $model := .Values.models }}
{{- $ctx := dict "root" $ "model" $model }}
{{- if hasKey $names $model.name }}
{{- fail (printf "models: the name %q is used twice (each model gets its own Deployment and Service)" $model.name) }}
{{- end }}
{{- $_ := set $names $model.name true }}
{{- $prefix := include "driftwatch.model.capturePrefix" $ctx }}
{{- if hasKey $prefixes $prefix }}
{{- fail (printf "models: %s and %s write capture under the same prefix %q of capture.uri; give one a capturePrefix of its own" (get $prefixes $prefix) $model.name $prefix) }}
{{- end }}
{{- $_ := set $prefixes $prefix $model.name }}
{{- $fullname := printf "%s-%s" (include "driftwatch.inference.fullname" $) $model.name }}
{{- if gt (len $fullname) 63 }}
{{- fail (printf "models: %q is longer than the 63 characters of a Service name; shorten the model name or fullnameOverride" $fullname) }}
{{- end }}
{{- include "driftwatch.model.validateCaptureControls" $ctx }}
{{- end }}
{{- end }}

{{/*
A model's capture controls (issue 13) as JSON: its own `capture` block over the release's defaults.
`sampleRate` and `hashKeySecret` are inherited from `capture.*`; `exclude` and `hash` are the model's
only, because they name features of its card and the service refuses a name its model lacks.
`rateFrom` and `secretFrom` name the value each came from, for the refusal messages.
*/}}
{{- define "driftwatch.model.captureControls" -}}
{{- $defaults := .root.Values.capture }}
{{- $own := default dict .model.capture }}
{{- $controls := dict "sampleRate" 1 "rateFrom" "the release's capture.sampleRate" "exclude" (default list $own.exclude) "hash" (default list $own.hash) "hashKeySecret" dict "secretFrom" "the release's capture.hashKeySecret" }}
{{- if not (kindIs "invalid" $own.sampleRate) }}
{{- $_ := set $controls "sampleRate" $own.sampleRate }}
{{- $_ := set $controls "rateFrom" "capture.sampleRate" }}
{{- else if not (kindIs "invalid" $defaults.sampleRate) }}
{{- $_ := set $controls "sampleRate" $defaults.sampleRate }}
{{- end }}
{{- $ownSecret := default dict $own.hashKeySecret }}
{{- if or $ownSecret.name $ownSecret.key }}
{{- $_ := set $controls "hashKeySecret" $ownSecret }}
{{- $_ := set $controls "secretFrom" "capture.hashKeySecret" }}
{{- else }}
{{- $_ := set $controls "hashKeySecret" (default dict $defaults.hashKeySecret) }}
{{- end }}
{{- toJson $controls }}
{{- end }}

{{/*
Refuse, naming the model and the field, what the service would refuse at start (a crash loop) and the
schema cannot see once defaults are inherited (or when schema validation is skipped). Feature names
themselves can only be checked by the service, against the model's card.
*/}}
{{- define "driftwatch.model.validateCaptureControls" -}}
{{- $controls := include "driftwatch.model.captureControls" . | fromJson }}
{{- $name := .model.name }}
{{- $rate := float64 $controls.sampleRate }}
{{- if or (le $rate 0.0) (gt $rate 1.0) }}
{{- fail (printf "models: %s: %s is %v, outside (0, 1]: the share of its predictions captured (1 keeps every one, 0.1 one in ten)" $name $controls.rateFrom $controls.sampleRate) }}
{{- end }}
{{- $both := list }}
{{- range $feature := $controls.hash }}
{{- if has $feature $controls.exclude }}
{{- $both = append $both $feature }}
{{- end }}
{{- end }}
{{- if $both }}
{{- fail (printf "models: %s: %s both in capture.exclude and capture.hash; choose one (excluded: never written; hashed: written as a keyed hash)" $name (join ", " $both)) }}
{{- end }}
{{- if $controls.hash }}
{{- $secret := $controls.hashKeySecret }}
{{- if not $secret.name }}
{{- fail (printf "models: %s: capture.hash (%s) needs capture.hashKeySecret.name, a Secret in the release namespace holding the HMAC key (set models[].capture.hashKeySecret: {name, key}, or capture.hashKeySecret for every model)" $name (join ", " $controls.hash)) }}
{{- end }}
{{- if not $secret.key }}
{{- fail (printf "models: %s: capture.hash (%s) needs %s.key, the key of Secret %q holding the HMAC key" $name (join ", " $controls.hash) $controls.secretFrom $secret.name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Per-model helpers take (dict "root" $ "model" <models[] entry>).
Object name of a model's Deployment, Service, HPA and PDB: <fullname>-inference-<model>.
*/}}
{{- define "driftwatch.model.fullname" -}}
{{- printf "%s-%s" (include "driftwatch.inference.fullname" .root) .model.name }}
{{- end }}

{{- define "driftwatch.model.selectorLabels" -}}
{{ include "driftwatch.inference.selectorLabels" .root }}
driftwatch.io/model: {{ .model.name | quote }}
{{- end }}

{{- define "driftwatch.model.labels" -}}
{{ include "driftwatch.labels" .root }}
app.kubernetes.io/component: inference
driftwatch.io/model: {{ .model.name | quote }}
{{- end }}

{{/*
The folder under capture.uri a model's service writes to (it adds <card name>/ itself): the model's
`capturePrefix`, or its name when unset; "" writes directly under capture.uri.
*/}}
{{- define "driftwatch.model.capturePrefix" -}}
{{- if and (hasKey .model "capturePrefix") (not (kindIs "invalid" .model.capturePrefix)) }}
{{- .model.capturePrefix | trimAll "/" }}
{{- else }}
{{- .model.name }}
{{- end }}
{{- end }}

{{- define "driftwatch.model.captureUri" -}}
{{- $prefix := include "driftwatch.model.capturePrefix" . }}
{{- if $prefix }}
{{- printf "%s/%s" (trimSuffix "/" .root.Values.capture.uri) $prefix }}
{{- else }}
{{- .root.Values.capture.uri }}
{{- end }}
{{- end }}

{{/*
Where the service loads the model directory from: the image's own for `builtin`, else a folder of the
model volume (an emptyDir filled by an initContainer, or the claim's subPath).
*/}}
{{- define "driftwatch.model.dir" -}}
{{- if .model.source.builtin }}
{{- .root.Values.inference.modelDir }}
{{- else }}
{{- printf "%s/%s" (trimSuffix "/" .root.Values.inference.modelVolume.mountPath) .model.name }}
{{- end }}
{{- end }}

{{/*
Where a model's reference dataset is copied on the data volume, for its DriftChecks.
*/}}
{{- define "driftwatch.model.referencePath" -}}
{{- printf "%s/%s/%s.parquet" (trimSuffix "/" .root.Values.data.mountPath) (trimAll "/" .root.Values.reference.directory) .model.name }}
{{- end }}

{{/*
The model volume's mount, read-only, in the containers that read the model directory (none for `builtin`).
*/}}
{{- define "driftwatch.model.volumeMount" -}}
{{- if .model.source.pvc }}
- name: model
  mountPath: {{ include "driftwatch.model.dir" . }}
  {{- with .model.source.pvc.subPath }}
  subPath: {{ . | quote }}
  {{- end }}
  readOnly: true
{{- else if not .model.source.builtin }}
- name: model
  mountPath: {{ .root.Values.inference.modelVolume.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The namespaces the controller watches, comma-joined; empty when it watches every namespace.
The controller's DRIFTWATCH_WATCH_NAMESPACES and its peering objects both follow it.
*/}}
{{- define "driftwatch.controller.watchNamespaces" -}}
{{- if .Values.controller.watchNamespaces }}
{{- join "," .Values.controller.watchNamespaces }}
{{- else if eq .Values.rbac.scope "namespace" }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
"true" when the controller runs several replicas, which then take turns through kopf peering.
*/}}
{{- define "driftwatch.controller.peering" -}}
{{- if gt (int .Values.controller.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
Name of the kopf peering object the controller replicas share (ClusterKopfPeering or KopfPeering).
*/}}
{{- define "driftwatch.controller.peeringName" -}}
{{- include "driftwatch.controller.fullname" . }}
{{- end }}
