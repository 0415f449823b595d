# CI only: stands in for postgres:16 (Debian's PostgreSQL 15; the same POSTGRES_* variables).
ARG DEBIAN_IMAGE=local/bookworm:base
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:${PATH} PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
