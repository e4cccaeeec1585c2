{{/*
Named templates that add the mcp-sidecar to any pod. Each takes one dict, the "sidecar context":

  root           the including chart's top-level context ($): .Release, .Chart, .Capabilities
  values         this chart's values as the including chart sees them (.Values.<dependency name
                 or alias>; this chart's own templates pass .Values)
  name           the workload; the ConfigMap is <name>-mcp-sidecar unless configMapName is given
  role           optional: inbound | outbound (default: values.role)
  config         optional dict merged OVER the values' config: the settings the including chart
                 wires (servers, auth, policy); they win over values
  defaults       optional dict merged UNDER the values' config: values win over these
  configMapName  optional: the ConfigMap holding config.yaml (e.g. one the chart's own release made)
  tokensSecret   optional: Secret mounted at /var/run/mcp-sidecar/tokens/ (keys `tokens`, `token`)
  tokensKeys     optional list: mount only these keys of tokensSecret
  tlsSecret      optional: Secret mounted at /var/run/mcp-sidecar/tls/ (tls.crt, tls.key, ca.crt)
  env            optional list of extra env entries of the sidecar container
  labels         optional dict: labels of the ConfigMap

Optional keys are read with `get`, so `helm lint --strict` (missing keys are errors) passes.
*/}}

{{/* Paths inside the sidecar container (docs/kubernetes.md). */}}
{{- define "mcp-sidecar.configDir" -}}/etc/mcp-sidecar{{- end -}}
{{- define "mcp-sidecar.tokensDir" -}}/var/run/mcp-sidecar/tokens{{- end -}}
{{- define "mcp-sidecar.tlsDir" -}}/var/run/mcp-sidecar/tls{{- end -}}

{{/* The chart's own object names (standalone install). */}}
{{- define "mcp-sidecar.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of the chart's own objects; takes the root context. */}}
{{- define "mcp-sidecar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: mcp-sidecar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mcp-sidecar.role" -}}
{{- get . "role" | default .values.role -}}
{{- end -}}

{{/* "0.0.0.0:9901" -> 9901 */}}
{{- define "mcp-sidecar.port" -}}
{{- regexFind "[0-9]+$" . -}}
{{- end -}}

{{/*
The sidecar's config.yaml: `defaults`, then the values' config (its common sections and the
section of the role), then `config`; later ones win.
*/}}
{{- define "mcp-sidecar.config" -}}
{{- $role := include "mcp-sidecar.role" . -}}
{{- $fromValues := omit .values.config "inbound" "outbound" | deepCopy -}}
{{- $_ := set $fromValues $role (index .values.config $role | default dict | deepCopy) -}}
{{- $cfg := mustMergeOverwrite (get . "defaults" | default dict | deepCopy) $fromValues (get . "config" | default dict | deepCopy) -}}
{{- if not (dig "admin" "enabled" true $cfg) -}}
{{- fail "mcp-sidecar: config.admin.enabled must stay true: the probes and metrics use the admin port" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
sha256 of what in the config needs a restart. The sidecar reloads config.yaml by itself when the
mounted ConfigMap changes, and applies inbound.policy, inbound.auth.mode,
inbound.auth.bearer_tokens_file, inbound.auth.tls.client_ca_file and log.level live
(docs/configuration.md); those keys are left out, so changing them does not roll the pods.
Any other change changes the checksum annotation, and so rolls the pods.
*/}}
{{- define "mcp-sidecar.restartChecksum" -}}
{{- $cfg := include "mcp-sidecar.config" . | fromYaml -}}
{{- with get $cfg "inbound" -}}
{{- $_ := unset . "policy" -}}
{{- with get . "auth" -}}
{{- $_ := unset . "mode" -}}
{{- $_ := unset . "bearer_tokens_file" -}}
{{- with get . "tls" -}}
{{- $_ := unset . "client_ca_file" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with get $cfg "log" -}}
{{- $_ := unset . "level" -}}
{{- end -}}
{{- toYaml $cfg | sha256sum -}}
{{- end -}}

{{- define "mcp-sidecar.configMapName" -}}
{{- get . "configMapName" | default (printf "%s-mcp-sidecar" .name | trunc 63 | trimSuffix "-") -}}
{{- end -}}

{{/* The ConfigMap holding config.yaml (a whole document, without the leading ---). */}}
{{- define "mcp-sidecar.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "mcp-sidecar.configMapName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- get . "labels" | default (include "mcp-sidecar.labels" .root | fromYaml) | toYaml | nindent 4 }}
    mcp-sidecar.io/role: {{ include "mcp-sidecar.role" . }}
data:
  config.yaml: |
    {{- include "mcp-sidecar.config" . | nindent 4 }}
{{- end -}}

{{- define "mcp-sidecar.image" -}}
{{- printf "%s:%s" .values.image.repository .values.image.tag -}}
{{- end -}}

{{/*
The restrictive container securityContext (also used for the app containers of charts/kyc): the
image's numeric non-root user, nothing writable but mounted volumes, no privilege, no capability.
*/}}
{{- define "mcp-sidecar.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The pod-level securityContext: fsGroup lets 65532 read the 0440 Secret files. */}}
{{- define "mcp-sidecar.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mcp-sidecar.probe" -}}
{{- $p := index . 1 -}}
httpGet:
  path: {{ index . 0 }}
  port: admin
periodSeconds: {{ $p.periodSeconds }}
timeoutSeconds: {{ $p.timeoutSeconds }}
failureThreshold: {{ $p.failureThreshold }}
{{- end -}}

{{/* The sidecar container (a mapping; see initContainers / containers for the list items). */}}
{{- define "mcp-sidecar.container" -}}
{{- $v := .values -}}
{{- $cfg := include "mcp-sidecar.config" . | fromYaml -}}
name: mcp-sidecar
image: {{ include "mcp-sidecar.image" . | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if eq $v.mode "native" }}
# A native sidecar: Kubernetes starts it before the app containers (after its startupProbe
# passes) and stops it after they exited.
restartPolicy: Always
{{- end }}
args: ["--config", "{{ include "mcp-sidecar.configDir" . }}/config.yaml"]
ports:
  {{- if eq (include "mcp-sidecar.role" .) "inbound" }}
  - name: mcp
    containerPort: {{ include "mcp-sidecar.port" (dig "inbound" "listen" "0.0.0.0:7443" $cfg) }}
    protocol: TCP
  {{- end }}
  - name: admin
    containerPort: {{ include "mcp-sidecar.port" (dig "admin" "listen" "0.0.0.0:9901" $cfg) }}
    protocol: TCP
{{- with concat $v.env (get . "env" | default list) }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- include "mcp-sidecar.securityContext" . | nindent 2 }}
startupProbe:
  {{- include "mcp-sidecar.probe" (list "/healthz" $v.probes.startup) | nindent 2 }}
livenessProbe:
  {{- include "mcp-sidecar.probe" (list "/healthz" $v.probes.liveness) | nindent 2 }}
readinessProbe:
  {{- include "mcp-sidecar.probe" (list "/readyz" $v.probes.readiness) | nindent 2 }}
volumeMounts:
  - name: mcp-sidecar-config
    mountPath: {{ include "mcp-sidecar.configDir" . }}
    readOnly: true
  - name: mcp-sidecar-tmp
    mountPath: /tmp
  {{- if get . "tokensSecret" }}
  - name: mcp-sidecar-tokens
    mountPath: {{ include "mcp-sidecar.tokensDir" . }}
    readOnly: true
  {{- end }}
  {{- if get . "tlsSecret" }}
  - name: mcp-sidecar-tls
    mountPath: {{ include "mcp-sidecar.tlsDir" . }}
    readOnly: true
  {{- end }}
{{- end -}}

{{/* List items for the pod's initContainers: the sidecar in native mode, else nothing. */}}
{{- define "mcp-sidecar.initContainers" -}}
{{- if eq .values.mode "native" -}}
- {{ include "mcp-sidecar.container" . | nindent 2 | trim }}
{{- end -}}
{{- end -}}

{{/* List items for the pod's containers: the sidecar in classic mode, else nothing. */}}
{{- define "mcp-sidecar.containers" -}}
{{- if eq .values.mode "classic" -}}
- {{ include "mcp-sidecar.container" . | nindent 2 | trim }}
{{- end -}}
{{- end -}}

{{/*
List items for the pod's volumes. Mounted whole (never subPath), so ConfigMap and Secret updates
reach the files and the sidecar's reload sees them. 288 = 0440: readable by the pod's fsGroup.
*/}}
{{- define "mcp-sidecar.volumes" -}}
- name: mcp-sidecar-config
  configMap:
    name: {{ include "mcp-sidecar.configMapName" . }}
- name: mcp-sidecar-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- with get . "tokensSecret" }}
- name: mcp-sidecar-tokens
  secret:
    secretName: {{ . }}
    defaultMode: 288
    {{- with get $ "tokensKeys" }}
    items:
      {{- range . }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
    {{- end }}
{{- end }}
{{- with get . "tlsSecret" }}
- name: mcp-sidecar-tls
  secret:
    secretName: {{ . }}
    defaultMode: 288
{{- end }}
{{- end -}}

{{/* Pod labels: which side of MCP traffic this pod's sidecar is on. */}}
{{- define "mcp-sidecar.podLabels" -}}
mcp-sidecar.io/role: {{ include "mcp-sidecar.role" . }}
{{- end -}}

{{/* Pod annotations: the restart checksum and Prometheus scraping of the admin port. */}}
{{- define "mcp-sidecar.podAnnotations" -}}
{{- $cfg := include "mcp-sidecar.config" . | fromYaml -}}
checksum/config: {{ include "mcp-sidecar.restartChecksum" . }}
{{- if .values.prometheusAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "mcp-sidecar.port" (dig "admin" "listen" "0.0.0.0:9901" $cfg) | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds: the sidecar's whole drain (shutdown delay + grace +
close timeout, the binary's defaults where the config leaves them out) plus values.appGraceSeconds
for the app. Enough in both modes: native sidecars stop after the app, classic ones beside it.
*/}}
{{- define "mcp-sidecar.terminationGracePeriodSeconds" -}}
{{- $s := include "mcp-sidecar.config" . | fromYaml | dig "shutdown" dict -}}
{{- $drain := addf (dig "delay_seconds" 5 $s) (dig "grace_seconds" 20 $s) (dig "close_timeout_seconds" 5 $s) -}}
{{- add (ceil $drain) .values.appGraceSeconds -}}
{{- end -}}
