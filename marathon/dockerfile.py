"""Dockerfiles per runtime whose memory flags agree with the allocation; pure templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Template

from marathon.render import DEFAULT_HEAP_SHARE

TEMPLATES: Mapping[str, str] = {
    "java": """\
# $service ($runtime), rendered by berth for $environment: heap $heap_mib MiB of $mem_mib MiB
FROM eclipse-temurin:17-jre
WORKDIR /app
COPY target/*.jar /app/app.jar
ENV JAVA_OPTS="$java_opts"
EXPOSE $expose
# Dubbo registers the agent's address ($$HOST, set by Mesos) unless told otherwise
ENTRYPOINT ["sh", "-c", "export DUBBO_IP_TO_REGISTRY=$${DUBBO_IP_TO_REGISTRY:-$$HOST}; \
exec java $$JAVA_OPTS -jar /app/app.jar"]
""",
    "node": """\
# $service ($runtime), rendered by berth for $environment: heap $heap_mib MiB of $mem_mib MiB
FROM node:20-alpine
WORKDIR /app
COPY package*.json ./
RUN npm ci --omit=dev
COPY . .
ENV NODE_OPTIONS="--max-old-space-size=$heap_mib"
EXPOSE $expose
CMD ["node", "server.js"]
""",
    "python": """\
# $service ($runtime), rendered by berth for $environment: $mem_mib MiB
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE $expose
CMD ["python", "-m", "app"]
""",
    "dotnet": """\
# $service ($runtime), rendered by berth for $environment: heap $heap_mib MiB of $mem_mib MiB
FROM mcr.microsoft.com/dotnet/aspnet:8.0
WORKDIR /app
COPY publish/ .
ENV DOTNET_GCHeapHardLimit=$heap_hex
EXPOSE $expose
ENTRYPOINT ["dotnet", "App.dll"]
""",
    "other": """\
# $service ($runtime), rendered by berth for $environment: $mem_mib MiB
FROM debian:bookworm-slim
WORKDIR /app
COPY . .
EXPOSE $expose
CMD ["./run"]
""",
}


def dockerfile(
    *,
    service: str,
    runtime: str,
    environment: str,
    mem_mib: int,
    container_ports: Sequence[int],
    heap_share: float = DEFAULT_HEAP_SHARE,
    template: str | None = None,
) -> str:
    """The Dockerfile text; `template` (a service's own) may use the same $names."""
    heap = max(16, int(mem_mib * heap_share))
    values = {
        "service": service,
        "runtime": runtime,
        "environment": environment,
        "mem_mib": str(mem_mib),
        "heap_mib": str(heap),
        "heap_hex": hex(heap * 1024 * 1024),
        "java_opts": f"-Xms{heap}m -Xmx{heap}m",
        "expose": " ".join(str(p) for p in sorted(set(container_ports))) or "8080",
    }
    chosen = template if template is not None else TEMPLATES.get(runtime, TEMPLATES["other"])
    return Template(chosen).safe_substitute(values)
