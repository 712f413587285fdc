{{/* The pod template, shared by the Deployment and the Argo Rollout. */}}
{{- define "forestd.podTemplate" -}}
metadata:
  labels:
    {{- include "forestd.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A change of settings rolls the pods.
    checksum/settings: {{ include "forestd.settings" . | sha256sum }}
    {{- if .Values.metrics.podAnnotations }}
    # Scrape the primary's cluster-wide /metrics (METRICS_PORT), one target per pod.
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ include "forestd.metricsPort" . | quote }}
    prometheus.io/path: /metrics
    prometheus.io/scheme: {{ include "forestd.scheme" . | lower | quote }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "forestd.serviceAccountName" . }}
  # forestd does not talk to the Kubernetes API (IRSA's webhook mounts its own token).
  automountServiceAccountToken: false
  # preStop sleep + GRACEFUL_TIMEOUT + a margin for the primary to exit.
  terminationGracePeriodSeconds: {{ add .Values.preStopSleepSeconds (include "forestd.gracefulTimeout" .) .Values.terminationGraceMarginSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile:
      type: RuntimeDefault
  {{- if eq .Values.model.source "s3" }}
  initContainers:
    # Copies the model from S3 before forestd starts, with the ServiceAccount's AWS role (IRSA).
    - name: fetch-model
      image: {{ .Values.model.s3.image }}
      imagePullPolicy: IfNotPresent
      args:
        - s3
        - cp
        - {{ required "model.s3.uri is required when model.source is s3" .Values.model.s3.uri | quote }}
        - {{ printf "/models/%s" .Values.model.file | quote }}
        {{- range .Values.model.s3.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        # The AWS CLI writes its cache under $HOME; the root filesystem is read-only.
        - name: HOME
          value: /tmp
      resources:
        {{- toYaml .Values.model.s3.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: models
          mountPath: /models
        - name: tmp
          mountPath: /tmp
  {{- end }}
  containers:
    - name: forestd
      image: {{ include "forestd.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      envFrom:
        - configMapRef:
            name: {{ include "forestd.fullname" . }}-settings
      {{- if or .Values.extraEnv .Values.repositoryApi.tokenSecret.name }}
      env:
        {{- with .Values.repositoryApi.tokenSecret.name }}
        # The repository API's bearer token, from its Secret (never in the settings ConfigMap).
        - name: REPOSITORY_API_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.repositoryApi.tokenSecret.key }}
        {{- end }}
        {{- with .Values.extraEnv }}
        # Variables that are not forestd settings (OTEL_*, ...): values.schema.json refuses settings here.
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ include "forestd.httpPort" . }}
          protocol: TCP
        {{- if ne (include "forestd.metricsPort" .) "0" }}
        - name: metrics
          containerPort: {{ include "forestd.metricsPort" . }}
          protocol: TCP
        {{- end }}
        {{- if ne (include "forestd.grpcPort" .) "0" }}
        # settings.GRPC_PORT: the Open Inference Protocol's gRPC service and grpc.health.v1.
        - name: grpc
          containerPort: {{ include "forestd.grpcPort" . }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet:
          path: {{ .Values.probes.startup.path }}
          port: http
          scheme: {{ include "forestd.scheme" . }}
        periodSeconds: {{ .Values.probes.startup.periodSeconds }}
        failureThreshold: {{ .Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: {{ .Values.probes.liveness.path }}
          port: http
          scheme: {{ include "forestd.scheme" . }}
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: {{ .Values.probes.readiness.path }}
          port: http
          scheme: {{ include "forestd.scheme" . }}
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", "{{ .Values.preStopSleepSeconds }}"]
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if include "forestd.modelsVolume" . }}
        - name: models
          mountPath: /models
          readOnly: true
        {{- end }}
        {{- if .Values.tls.secretName }}
        # The whole Secret, not a subPath: Kubernetes updates its files in place when it changes.
        - name: tls
          mountPath: /etc/forestd/tls
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmpSizeLimit }}
    {{- with .Values.tls.secretName }}
    - name: tls
      secret:
        secretName: {{ . }}
        # 0440: the key readable by its owner and fsGroup (forestd's group), nobody else.
        defaultMode: 288
    {{- end }}
    {{- if or (eq .Values.model.source "volume") (and (eq .Values.model.source "repository") (not .Values.model.repository.uri)) }}
    - name: models
      {{- if not .Values.model.volume }}
      {{- fail (printf "model.volume is required when model.source is %s" .Values.model.source) }}
      {{- end }}
      {{- toYaml .Values.model.volume | nindent 6 }}
    {{- else if eq .Values.model.source "s3" }}
    - name: models
      emptyDir:
        sizeLimit: 1Gi
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
