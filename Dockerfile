# The daily test container: `probe run` with a mounted checks.yaml, secrets from
# the environment, reports to /reports; exit 0 all passed, 1 a check failed.
#
#   docker build -t probes .
#   docker build --build-arg INSTALL_MSODBC=1 -t probes:msodbc .   # + Microsoft ODBC Driver 18
#   docker run --rm -v "$PWD/checks.yaml:/etc/probes/checks.yaml:ro" \
#       -v "$PWD/reports:/reports" --env-file probes.env probes
#
# Build arguments:
#   BASE_IMAGE      a Debian bookworm image (default debian:bookworm-slim); tests
#                   substitute a local one made by scripts/make-test-base.sh
#   INSTALL_MSODBC  1 adds Microsoft's "ODBC Driver 18 for SQL Server" from
#                   packages.microsoft.com and accepts its EULA (ACCEPT_EULA=Y);
#                   default 0: FreeTDS (tdsodbc) is the SQL Server driver
#   PROBE_UID       the numeric uid/gid the container runs as (default 10001)
#
# See docs/running-daily.md.

ARG BASE_IMAGE=debian:bookworm-slim

# ---- python: Debian's Python and an empty venv at /opt/probes
FROM ${BASE_IMAGE} AS python
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/probes

# ---- requirements: the runtime dependencies listed in pyproject.toml
FROM python AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(deps))' >requirements.txt

# ---- builder: the dependencies, then the probes wheel, into the venv
FROM python AS builder
WORKDIR /src
# Only the dependency list: an edit elsewhere in pyproject.toml or in the source
# keeps the cached install below.
COPY --from=requirements /src/requirements.txt ./
RUN /opt/probes/bin/pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY probes ./probes
RUN /opt/probes/bin/pip wheel --no-cache-dir --no-deps --wheel-dir dist . \
    && /opt/probes/bin/pip install --no-cache-dir --no-deps dist/probes-*.whl

# ---- runtime
FROM ${BASE_IMAGE}
ARG INSTALL_MSODBC=0
ARG PROBE_UID=10001
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
LABEL org.opencontainers.image.title="probes" \
      org.opencontainers.image.description="Health checks for databases, APIs, files and certificates: JUnit/HTML/JSON reports and chat notifications"

# python3 runs the venv; unixodbc and the ODBC drivers serve the odbc kind
# (PostgreSQL, MariaDB/MySQL, FreeTDS for SQL Server); openssh-client brings
# ssh-keyscan/ssh-keygen for the known_hosts file the sftp kind (paramiko, in the
# venv) checks host keys against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        python3 \
        unixodbc \
        odbc-postgresql \
        odbc-mariadb \
        tdsodbc \
        openssh-client \
    && rm -rf /var/lib/apt/lists/*

# Microsoft's driver is not in Debian: its repository is added only on request,
# so the default build never reaches packages.microsoft.com.
RUN if [ "${INSTALL_MSODBC}" = "1" ]; then \
        python3 -c 'import urllib.request; urllib.request.urlretrieve("https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb", "/tmp/packages-microsoft-prod.deb")' \
        && dpkg -i /tmp/packages-microsoft-prod.deb \
        && rm /tmp/packages-microsoft-prod.deb \
        && apt-get update \
        && ACCEPT_EULA=Y apt-get install -y --no-install-recommends msodbcsql18 \
        && rm -rf /var/lib/apt/lists/*; \
    fi

RUN groupadd --gid "${PROBE_UID}" probe \
    && useradd --uid "${PROBE_UID}" --gid probe --no-log-init \
        --home-dir /home/probe --create-home --shell /usr/sbin/nologin probe \
    && mkdir -p /etc/probes /reports \
    && chown probe:probe /reports

ENV PATH=/opt/probes/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROBE_CONFIG=/etc/probes/checks.yaml
USER ${PROBE_UID}:${PROBE_UID}
WORKDIR /home/probe
VOLUME ["/reports"]
ENTRYPOINT ["probe"]
CMD ["run", "--config", "/etc/probes/checks.yaml", "--reports", "/reports"]

# Last, so that a change to the source rebuilds only this step. Owned by root:
# the user runs the venv but cannot change it.
COPY --from=builder /opt/probes /opt/probes
