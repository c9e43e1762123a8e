"""The platform's own image registry on one machine: the CNCF distribution
server (Debian's ``docker-registry``) on loopback, with token authentication
served by the control plane (:mod:`.tokens`) and a configuration written by the
platform (:mod:`.config`)."""
