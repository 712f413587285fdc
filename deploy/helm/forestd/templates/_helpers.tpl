{{/* Names and labels. */}}
{{- define "forestd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* app.kubernetes.io/name is the chart's name ("forestd"): the Prometheus job label comes from it. */}}
{{- define "forestd.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "forestd.labels" -}}
{{ include "forestd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "forestd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "forestd.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "forestd.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
A setting's value as the environment variable's text. Helm reads every YAML number as a float,
which prints 10485760 as 1.048576e+07: whole numbers are printed as integers.
*/}}
{{- define "forestd.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- printf "%.0f" . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* CPUs requested, rounded up: "2" → 2, "1500m" → 2, 0.5 → 1. */}}
{{- define "forestd.requestedCpus" -}}
{{- $cpu := toString (.Values.resources.requests.cpu | default "1") -}}
{{- if hasSuffix "m" $cpu -}}
{{- div (add (trimSuffix "m" $cpu | int) 999) 1000 | max 1 -}}
{{- else -}}
{{- ceil ($cpu | float64) | int | max 1 -}}
{{- end -}}
{{- end -}}

{{/* Where the model is read from, or "" for the setting's own (the bundled model, or a repository). */}}
{{- define "forestd.modelPath" -}}
{{- $source := .Values.model.source -}}
{{- if .Values.settings.MODEL_REPOSITORY -}}
{{- fail "settings.MODEL_REPOSITORY is set by model.source repository: leave it empty" -}}
{{- end -}}
{{- if eq $source "image" -}}
{{- .Values.settings.MODEL_PATH -}}
{{- else if has $source (list "volume" "s3" "repository") -}}
{{- if .Values.settings.MODEL_PATH -}}
{{- fail (printf "model.source %s sets where models come from itself: leave settings.MODEL_PATH empty" $source) -}}
{{- end -}}
{{- if ne $source "repository" -}}
{{- printf "/models/%s" .Values.model.file -}}
{{- end -}}
{{- else -}}
{{- fail (printf "model.source must be image, volume or s3 (one model), or repository (many), not %q" $source) -}}
{{- end -}}
{{- end -}}

{{/* MODEL_REPOSITORY for model.source repository: its URI, else the volume mounted at /models. */}}
{{- define "forestd.modelRepository" -}}
{{- if eq .Values.model.source "repository" -}}
{{- if .Values.model.repository.uri -}}
{{- .Values.model.repository.uri -}}
{{- else if .Values.model.volume -}}
/models
{{- else -}}
{{- fail "model.source repository needs model.repository.uri (s3:// or https://) or model.volume" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether a volume is mounted at /models: a model file's or a repository's. */}}
{{- define "forestd.modelsVolume" -}}
{{- if or (has .Values.model.source (list "volume" "s3")) (and (eq .Values.model.source "repository") (not .Values.model.repository.uri)) -}}
true
{{- end -}}
{{- end -}}

{{/* The environment forestd runs with: every non-empty setting, plus what the chart derives. */}}
{{- define "forestd.settings" -}}
{{- $env := dict -}}
{{- range $name, $value := .Values.settings -}}
{{- $text := include "forestd.envValue" $value -}}
{{- if ne $text "" -}}
{{- $_ := set $env $name $text -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $env "WORKERS") -}}
{{- $_ := set $env "WORKERS" (include "forestd.requestedCpus" .) -}}
{{- end -}}
{{- $modelPath := include "forestd.modelPath" . -}}
{{- if $modelPath -}}
{{- $_ := set $env "MODEL_PATH" $modelPath -}}
{{- end -}}
{{- $repository := include "forestd.modelRepository" . -}}
{{- if $repository -}}
{{- $_ := set $env "MODEL_REPOSITORY" $repository -}}
{{- end -}}
{{- range $name, $key := dict "CERTFILE" "certKey" "KEYFILE" "keyKey" "CA_CERTS" "caKey" -}}
{{- if index $.Values.settings $name -}}
{{- fail (printf "settings.%s names a file in the pod: leave it empty and mount a Secret with tls.secretName (tls.%s names its key)" $name $key) -}}
{{- end -}}
{{- end -}}
{{- with .Values.tls.secretName -}}
{{- $_ := set $env "CERTFILE" (printf "/etc/forestd/tls/%s" $.Values.tls.certKey) -}}
{{- $_ := set $env "KEYFILE" (printf "/etc/forestd/tls/%s" $.Values.tls.keyKey) -}}
{{- with $.Values.tls.caKey -}}
{{- $_ := set $env "CA_CERTS" (printf "/etc/forestd/tls/%s" .) -}}
{{- end -}}
{{- if eq (include "forestd.settingOr" (dict "settings" $.Values.settings "name" "CERT_REQS" "default" "0")) "2" -}}
{{- fail "settings.CERT_REQS 2 would refuse the kubelet's probes, which send no client certificate: use 1 (optional; METRICS_CERT_REQS may be 2)" -}}
{{- end -}}
{{- end -}}
{{- if .Values.settings.REPOSITORY_API_TOKEN -}}
{{- fail "settings.REPOSITORY_API_TOKEN would put a credential in a ConfigMap: name a Secret in repositoryApi.tokenSecret" -}}
{{- end -}}
{{- if and (include "forestd.settingOr" (dict "settings" .Values.settings "name" "REPOSITORY_API" "default" "false") | regexMatch "^(true|1|yes|on)$") (not .Values.repositoryApi.tokenSecret.name) -}}
{{- fail "settings.REPOSITORY_API needs its bearer token from a Secret: repositoryApi.tokenSecret.name" -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* The port of an address HOST:PORT (BIND's first), or of forestd's default bind. */}}
{{- define "forestd.httpPort" -}}
{{- $bind := .Values.settings.BIND | default "0.0.0.0:8000" | toString -}}
{{- $first := first (splitList "," $bind) | trim -}}
{{- regexFind "[0-9]+$" $first -}}
{{- end -}}

{{/* A setting's text, or forestd's default when it is empty (`default` would also replace a 0). */}}
{{- define "forestd.settingOr" -}}
{{- $text := include "forestd.envValue" (index .settings .name | default "") -}}
{{- if eq (toString (index .settings .name)) "0" -}}
{{- $text = "0" -}}
{{- end -}}
{{- ternary .default $text (eq $text "") -}}
{{- end -}}

{{/* HTTPS where forestd serves TLS itself (tls.secretName), else HTTP: for probes and scrapes. */}}
{{- define "forestd.scheme" -}}
{{- ternary "HTTPS" "HTTP" (ne .Values.tls.secretName "") -}}
{{- end -}}

{{- define "forestd.metricsPort" -}}
{{- include "forestd.settingOr" (dict "settings" .Values.settings "name" "METRICS_PORT" "default" "9091") -}}
{{- end -}}

{{- define "forestd.grpcPort" -}}
{{- include "forestd.settingOr" (dict "settings" .Values.settings "name" "GRPC_PORT" "default" "0") -}}
{{- end -}}

{{- define "forestd.gracefulTimeout" -}}
{{- include "forestd.settingOr" (dict "settings" .Values.settings "name" "GRACEFUL_TIMEOUT" "default" "30") | float64 | ceil | int -}}
{{- end -}}
