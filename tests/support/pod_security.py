"""The Kubernetes Pod Security Standards' "restricted" profile, as a pure check.

Written from the published rules (kubernetes.io/docs/concepts/security/pod-security-standards,
"Baseline" and "Restricted", which includes Baseline) for the fields a pod spec
can set; :func:`restricted_violations` returns what a pod breaks, empty when
it meets the profile. Container-level settings override pod-level ones, as the
kubelet applies them.
"""

from __future__ import annotations

# Restricted: only these volume types.
ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
# Restricted: capabilities may be dropped (ALL must be), and only this one added.
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# Baseline: sysctls considered safe.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_PROC_MOUNT = frozenset({None, "Default"})
_VOLUME_META_KEYS = frozenset({"name"})


def _spec(pod: dict) -> dict:
    return pod.get("spec", pod)


def _containers(spec: dict):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            yield f"{key}[{container.get('name', '?')}]", container


def restricted_violations(pod: dict) -> list[str]:
    """What ``pod`` (a Pod, or a pod spec) does that the "restricted" profile forbids."""
    spec = _spec(pod)
    psc = spec.get("securityContext") or {}
    problems: list[str] = []

    # Baseline: host namespaces, host ports, host paths, privileged, capabilities, sysctls...
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"spec.{key} is true")
    if psc.get("windowsOptions", {}).get("hostProcess"):
        problems.append("spec.securityContext.windowsOptions.hostProcess is true")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"spec.securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - _VOLUME_META_KEYS
        for kind in kinds:
            if kind not in ALLOWED_VOLUME_TYPES:
                problems.append(f"volume {volume.get('name')}: type {kind} is not allowed")
    for key in ("seLinuxOptions",):
        options = psc.get(key) or {}
        if options.get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"):
            problems.append(f"spec.securityContext.seLinuxOptions.type {options.get('type')} is not allowed")
        if options.get("user") or options.get("role"):
            problems.append("spec.securityContext.seLinuxOptions sets user or role")

    # Restricted, pod level
    if psc.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser is 0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"spec.securityContext.seccompProfile.type {pod_seccomp} is not allowed")

    for where, container in _containers(spec):
        csc = container.get("securityContext") or {}
        if csc.get("privileged"):
            problems.append(f"{where}: privileged")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']}")
        if csc.get("procMount") not in ALLOWED_PROC_MOUNT:
            problems.append(f"{where}: procMount {csc.get('procMount')}")
        if (csc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}: windowsOptions.hostProcess")
        options = csc.get("seLinuxOptions") or {}
        if options.get("user") or options.get("role"):
            problems.append(f"{where}: seLinuxOptions sets user or role")
        if (csc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"{where}: appArmorProfile {(csc.get('appArmorProfile') or {}).get('type')}")

        # Restricted
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{where}: runAsNonRoot is not true (here or on the pod)")
        if csc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser is 0")
        seccomp = (csc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ALLOWED_SECCOMP:
            problems.append(f"{where}: seccompProfile.type is {seccomp}, not RuntimeDefault or Localhost (here or on the pod)")
        capabilities = csc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities.drop does not include ALL")
        for added in capabilities.get("add") or []:
            if added not in ALLOWED_ADDED_CAPABILITIES:
                problems.append(f"{where}: adds capability {added}")
    return problems
