{{/* Weft's objects live in weft-system: the operator renders the node agent there. */}}
{{- define "weft.namespace" -}}weft-system{{- end -}}

{{- define "weft.tag" -}}{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{/* Labels of every object: config/operator's (part-of) plus Helm's own bookkeeping. */}}
{{- define "weft.labels" -}}
app.kubernetes.io/part-of: weft
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}
