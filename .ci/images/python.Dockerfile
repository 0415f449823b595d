# CI only: Debian with the interpreter the native stack runs, copied from the host, so the images
# install the same pins (requirements/constraints.txt needs Python >= 3.11.5; bookworm has 3.11.2).
# Built where no registry image can be pulled; the context is assembled by tests/compose/images.py.
ARG DEBIAN_IMAGE=local/bookworm:base
FROM ${DEBIAN_IMAGE}
ARG PYTHON_PREFIX
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends ca-certificates curl procps libssl3 libffi8 \
      libsqlite3-0 zlib1g libbz2-1.0 liblzma5 libreadline8 libncursesw6 libuuid1 libgdbm6 \
 && update-ca-certificates && rm -rf /var/lib/apt/lists/*
COPY python/ ${PYTHON_PREFIX}/
# It must stay at its build path (libpython is found there); every user may reach it.
RUN ln -s ${PYTHON_PREFIX}/bin/python3.11 /usr/local/bin/python3 \
 && ln -s ${PYTHON_PREFIX}/bin/python3.11 /usr/local/bin/python \
 && d=${PYTHON_PREFIX}; while [ "$d" != / ]; do chmod a+rx "$d"; d=$(dirname "$d"); done
# pip trusts its own bundle; the system's holds any extra CA (a proxy's) added above.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
