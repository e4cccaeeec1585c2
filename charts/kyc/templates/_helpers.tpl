{{/*
Helpers of the kyc chart. Workloads: the four servers (registry, sanctions, pep, risk) and the
orchestrator; most helpers take (list $ "<workload>").
*/}}

{{- define "kyc.servers" -}}
- registry
- sanctions
- pep
- risk
{{- end -}}

{{- define "kyc.workloads" -}}
{{ include "kyc.servers" . }}
- orchestrator
{{- end -}}

{{/* <release>-<workload>: the Deployment, Service, ServiceAccount and Certificate name. */}}
{{- define "kyc.name" -}}
{{- printf "%s-%s" (index . 0).Release.Name (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kyc.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "kyc.labels" -}}
{{- $root := index . 0 -}}
{{ include "kyc.selectorLabels" . }}
app.kubernetes.io/part-of: kyc
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The workload's identity: spiffe://<trustDomain>/ns/<namespace>/sa/<serviceaccount>. */}}
{{- define "kyc.spiffeId" -}}
{{- $root := index . 0 -}}
{{- printf "spiffe://%s/ns/%s/sa/%s" $root.Values.trustDomain $root.Release.Namespace (include "kyc.name" .) -}}
{{- end -}}

{{/* "true" when the gates accept tokens / certificates exist (include returns strings). */}}
{{- define "kyc.bearerOn" -}}
{{- if ne .Values.auth.mode "mtls" }}true{{ end -}}
{{- end -}}
{{- define "kyc.mtlsOn" -}}
{{- if ne .Values.auth.mode "bearer" }}true{{ end -}}
{{- end -}}

{{/*
What the orchestrator's sidecar presents to the gates: "bearer" (plain HTTP and its token) or
"mtls" (TLS and its certificate). auth.orchestratorUses, else derived from auth.mode; a choice
the gates would refuse fails the render (the schema says so too).
*/}}
{{- define "kyc.orchestratorUses" -}}
{{- $mode := .Values.auth.mode -}}
{{- $uses := .Values.auth.orchestratorUses | default (eq $mode "mtls" | ternary "mtls" "bearer") -}}
{{- if and (eq $mode "mtls") (eq $uses "bearer") -}}
{{- fail "auth.orchestratorUses=bearer contradicts auth.mode=mtls: the gates accept certificates only (set orchestratorUses to mtls, or leave it empty)" -}}
{{- end -}}
{{- if and (eq $mode "bearer") (eq $uses "mtls") -}}
{{- fail "auth.orchestratorUses=mtls contradicts auth.mode=bearer: the gates have no certificates (set auth.mode=mtls-or-bearer first)" -}}
{{- end -}}
{{- $uses -}}
{{- end -}}

{{- define "kyc.tokensSecret" -}}
{{- printf "%s-tokens" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kyc.tlsSecret" -}}
{{- printf "%s-tls" (include "kyc.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The tokens Secret's data (YAML): `token` = the orchestrator's own token, `tokens` = the
"name=token" lines every gate accepts. The orchestrator's token comes from values, else from the
Secret already in the cluster (so upgrades keep it), else it is generated. Computed once per
render and kept in .Values, so the Secret and the orchestrator's checksum see the same token.
*/}}
{{- define "kyc.tokenData" -}}
{{- if not (hasKey .Values "__kycTokenData") -}}
{{- $token := .Values.auth.bearer.orchestratorToken -}}
{{- if not $token -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "kyc.tokensSecret" .) -}}
{{- $token = dig "data" "token" "" $existing | b64dec -}}
{{- end -}}
{{- $token = $token | default (randAlphaNum 48) -}}
{{- $lines := list (printf "orchestrator=%s" $token) -}}
{{- range $name, $t := .Values.auth.bearer.extraTokens -}}
{{- $lines = append $lines (printf "%s=%s" $name $t) -}}
{{- end -}}
{{- $_ := set .Values "__kycTokenData" (dict "token" $token "tokens" (join "\n" $lines)) -}}
{{- end -}}
{{- toYaml (get .Values "__kycTokenData") -}}
{{- end -}}

{{/* The first rule of every gate: the orchestrator's identities for the mode. */}}
{{- define "kyc.policy" -}}
{{- $root := index . 0 -}}
{{- $callers := list -}}
{{- if include "kyc.mtlsOn" $root }}{{ $callers = append $callers (include "kyc.spiffeId" (list $root "orchestrator")) }}{{ end -}}
{{- if include "kyc.bearerOn" $root }}{{ $callers = append $callers "bearer:orchestrator" }}{{ end -}}
{{- $rule := dict "callers" $callers "tools" $root.Values.policy.orchestrator.tools -}}
{{- with $root.Values.policy.orchestrator.prompts }}{{ $_ := set $rule "prompts" . }}{{ end -}}
{{- with $root.Values.policy.orchestrator.resources }}{{ $_ := set $rule "resources" . }}{{ end -}}
{{- $server := index $root.Values.servers (index . 1) -}}
{{- concat (list $rule) $root.Values.policy.extraRules $server.extraPolicyRules | toYaml -}}
{{- end -}}

{{/* A server's gate: its wiring, merged over sidecar.config.inbound. */}}
{{- define "kyc.inboundConfig" -}}
{{- $root := index . 0 -}}
{{- $tls := include "mcp-sidecar.tlsDir" . -}}
inbound:
  name: {{ index . 1 }}
  require_auth: true
  auth:
    mode: {{ $root.Values.auth.mode }}
    {{- if include "kyc.bearerOn" $root }}
    bearer_tokens_file: {{ include "mcp-sidecar.tokensDir" . }}/tokens
    {{- end }}
    {{- if include "kyc.mtlsOn" $root }}
    tls:
      cert_file: {{ $tls }}/tls.crt
      key_file: {{ $tls }}/tls.key
      client_ca_file: {{ $tls }}/ca.crt
      {{- if include "kyc.bearerOn" $root }}
      # The TLS port also serves plain-HTTP token callers: orchestrator pods not yet on mTLS.
      accept_plaintext: true
      {{- end }}
    {{- end }}
  policy:
    {{- include "kyc.policy" . | nindent 4 }}
{{- end -}}

{{/* The address the orchestrator's sidecar calls a server at: values, else its Service's DNS name. */}}
{{- define "kyc.serverAddress" -}}
{{- $root := index . 0 -}}
{{- $server := index $root.Values.servers (index . 1) -}}
{{- $server.address | default (printf "%s.%s.svc.%s:7443" (include "kyc.name" .) $root.Release.Namespace $root.Values.clusterDomain) -}}
{{- end -}}

{{/* The orchestrator's outbound sidecar: the four servers, merged over sidecar.config.outbound. */}}
{{- define "kyc.outboundConfig" -}}
{{- $root := . -}}
{{- $tls := include "mcp-sidecar.tlsDir" . -}}
{{- $mtls := eq (include "kyc.orchestratorUses" $root) "mtls" -}}
outbound:
  {{- if not $mtls }}
  bearer_token_file: {{ include "mcp-sidecar.tokensDir" . }}/token
  {{- end }}
  servers:
    {{- range $name := include "kyc.servers" . | fromYamlArray }}
    {{- $server := index $root.Values.servers $name }}
    - name: {{ $name }}
      url: {{ printf "%s://%s%s" ($mtls | ternary "https" "http") (include "kyc.serverAddress" (list $root $name)) $server.path }}
      transport: {{ $server.transport }}
      {{- if $mtls }}
      tls:
        ca_file: {{ $tls }}/ca.crt
        cert_file: {{ $tls }}/tls.crt
        key_file: {{ $tls }}/tls.key
        # Instead of a host name: the SPIFFE id the server's certificate must carry.
        expect_identity: {{ include "kyc.spiffeId" (list $root $name) }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/*
The sidecar context (charts/mcp-sidecar/templates/_helpers.tpl) of a workload, as YAML; the
caller adds root and values: it cannot travel through YAML.
*/}}
{{- define "kyc.sidecarContext" -}}
{{- $root := index . 0 -}}
{{- $w := index . 1 -}}
{{- $outbound := eq $w "orchestrator" -}}
{{- /* A gate mounts what auth.mode accepts; the orchestrator only what it presents. */ -}}
{{- $tokens := include "kyc.bearerOn" $root | eq "true" -}}
{{- $certs := include "kyc.mtlsOn" $root | eq "true" -}}
{{- if $outbound -}}
{{- $uses := include "kyc.orchestratorUses" $root -}}
{{- $tokens = eq $uses "bearer" -}}
{{- $certs = eq $uses "mtls" -}}
{{- end -}}
name: {{ include "kyc.name" . }}
role: {{ $outbound | ternary "outbound" "inbound" }}
config:
  {{- if $outbound }}
  {{- include "kyc.outboundConfig" $root | nindent 2 }}
  {{- else }}
  {{- include "kyc.inboundConfig" . | nindent 2 }}
  {{- end }}
{{- if $tokens }}
tokensSecret: {{ include "kyc.tokensSecret" $root }}
# Each pod sees only its key: a gate the accepted tokens, the orchestrator its own token.
tokensKeys: [{{ $outbound | ternary "token" "tokens" }}]
{{- end }}
{{- if $certs }}
tlsSecret: {{ include "kyc.tlsSecret" . }}
{{- end }}
labels:
  {{- include "kyc.labels" . | nindent 2 }}
{{- end -}}

{{/* The app containers' /tmp and nothing else writable. */}}
{{- define "kyc.appVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "kyc.kycImage" -}}
{{- printf "%s:%s" .Values.kycImage.repository (.Values.kycImage.tag | default .Chart.AppVersion) -}}
{{- end -}}
