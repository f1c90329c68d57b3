#!/usr/bin/python3
"""The manifest side of k8s-dev/verify: reads the Deployment, its ConfigMap and its Secret, turns
them into `podman run` settings, and checks the running container from the outside.

  verify.py settings DIR     writes the mounted files and the environment file under DIR and
                             prints the `podman run` arguments, NUL-separated
  verify.py grace            prints the pod's termination grace period in seconds
  verify.py probe PID        run inside the container's network namespace: waits for the
                             readiness probe, then talks to the agent and to its metrics
  verify.py log OUT ERR      checks what the container wrote: nothing on stdout, JSON on stderr

Every failure ends with one line "verify: FAIL: ..." on stderr and exit status 1.
"""
import base64
import json
import os
import re
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 30  # seconds for one answer: generous, it only catches a hang


def fail(message):
    sys.stderr.write("verify: FAIL: %s\n" % message)
    sys.exit(1)


def ok(message):
    print("verify: ok: %s" % message, flush=True)


# ---- the manifests

def manifests():
    docs = []
    for name in sorted(os.listdir(HERE)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(HERE, name)) as f:
                docs.extend(d for d in yaml.safe_load_all(f) if d)
    return docs


def one(docs, kind, name=None):
    found = [d for d in docs if d.get("kind") == kind
             and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        fail("expected one %s%s in k8s-dev/, found %d"
             % (kind, " named " + name if name else "", len(found)))
    return found[0]


class Pod:
    """The Deployment's pod and its one container, with what they refer to."""

    def __init__(self):
        self.docs = manifests()
        deployment = one(self.docs, "Deployment")
        self.spec = deployment["spec"]["template"]["spec"]
        containers = self.spec["containers"]
        if len(containers) != 1:
            fail("the Deployment must have one container, it has %d" % len(containers))
        self.container = containers[0]
        self.ports = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}

    def secret_value(self, ref):
        secret = one(self.docs, "Secret", ref["name"])
        if ref["key"] in (secret.get("stringData") or {}):
            return str(secret["stringData"][ref["key"]])
        data = secret.get("data") or {}
        if ref["key"] not in data:
            fail("the Secret %s has no key %s" % (ref["name"], ref["key"]))
        return base64.b64decode(data[ref["key"]]).decode()

    def env(self):
        """The container's variables, resolved as the kubelet resolves them."""
        result = {}
        for e in self.container.get("env", []):
            if "value" in e:
                result[e["name"]] = str(e["value"])
            elif "secretKeyRef" in e.get("valueFrom", {}):
                result[e["name"]] = self.secret_value(e["valueFrom"]["secretKeyRef"])
            elif "configMapKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["configMapKeyRef"]
                result[e["name"]] = str(one(self.docs, "ConfigMap", ref["name"])["data"][ref["key"]])
            else:
                fail("cannot reproduce the variable %s: %s" % (e["name"], e))
        return result

    def token(self):
        token = self.env().get("AGENT_AUTH_TOKEN")
        if not token:
            fail("the container gets no AGENT_AUTH_TOKEN")
        return token

    def security(self):
        """The container's securityContext over the pod's, as Kubernetes merges them."""
        merged = dict(self.spec.get("securityContext") or {})
        merged.update(self.container.get("securityContext") or {})
        return merged

    def port(self, port):
        return self.ports[port] if isinstance(port, str) else int(port)

    def grace(self):
        return int(self.spec.get("terminationGracePeriodSeconds", 30))


def quantity(q):
    """A Kubernetes quantity ("256Mi", "2", "500m") as a number."""
    m = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|m)?", str(q))
    if not m:
        fail("cannot read the quantity %r" % q)
    scale = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10 ** 3,
             "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "m": 1e-3}[m.group(2)]
    return float(m.group(1)) * scale


def settings(out_dir):
    """The `podman run` arguments that reproduce the pod, and the files they mount."""
    pod = Pod()
    c = pod.container
    sc = pod.security()
    args = []
    if not sc.get("runAsNonRoot") or not sc.get("runAsUser"):
        fail("the pod does not say runAsNonRoot with a numeric runAsUser")
    args += ["--user", "%d:%d" % (sc["runAsUser"], sc.get("runAsGroup", sc["runAsUser"]))]
    if "fsGroup" in sc:
        args += ["--group-add", str(sc["fsGroup"])]
    if sc.get("readOnlyRootFilesystem"):
        # podman would add its own writable /tmp, /run and /var/tmp; a pod has none of them.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for cap in (sc.get("capabilities") or {}).get("drop", []):
        args += ["--cap-drop", cap]
    for cap in (sc.get("capabilities") or {}).get("add", []):
        args += ["--cap-add", cap]
    profile = (sc.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if profile != "RuntimeDefault":
        fail("seccompProfile %s is not reproduced here (podman's default is RuntimeDefault)"
             % profile)

    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = volumes[m["name"]]
        if "emptyDir" in v:
            # An emptyDir is writable by everyone, setgid to fsGroup. On tmpfs here, exec
            # allowed: the native libraries unpacked into /tmp are mapped executable.
            size = (v["emptyDir"] or {}).get("sizeLimit")
            opts = "rw,exec,nosuid,nodev,mode=2777,U"
            if size:
                opts += ",size=%d" % quantity(size)
            args += ["--tmpfs", "%s:%s" % (m["mountPath"], opts)]
        elif "configMap" in v:
            cm = one(pod.docs, "ConfigMap", v["configMap"]["name"])
            folder = os.path.join(out_dir, m["name"])
            os.makedirs(folder, exist_ok=True)
            os.chmod(folder, 0o755)
            items = v["configMap"].get("items") or [{"key": k, "path": k} for k in cm["data"]]
            for item in items:
                path = os.path.join(folder, item["path"])
                with open(path, "w") as f:
                    f.write(cm["data"][item["key"]])
                os.chmod(path, 0o644)
            args += ["--volume", "%s:%s:ro" % (folder, m["mountPath"])]
        else:
            fail("the volume %s is not reproduced here: %s" % (m["name"], v))

    env_file = os.path.join(out_dir, "env")
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for name, value in pod.env().items():
            if "\n" in value:
                fail("the variable %s holds a line break" % name)
            f.write("%s=%s\n" % (name, value))
    args += ["--env-file", env_file]

    limits = (c.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", "%d" % quantity(limits["memory"])]
    if "cpu" in limits:
        args += ["--cpus", "%g" % quantity(limits["cpu"])]
    if "workingDir" in c:
        args += ["--workdir", c["workingDir"]]
    if "command" in c:
        args += ["--entrypoint", json.dumps([str(a) for a in c["command"]])]
    args.append(c["image"])
    args += [str(a) for a in c.get("args", [])]
    sys.stdout.write("\0".join(args))


# ---- the checks from the outside

class Agent:
    """One TCP connection to the agent, speaking its length-prefixed JSON frames."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.next_id = 0

    def call(self, request):
        self.next_id += 1
        body = json.dumps(dict(request, id=str(self.next_id))).encode()
        self.sock.sendall(struct.pack("<I", len(body)) + body)
        header = self.read(4)
        if header is None:
            return None
        answer = json.loads(self.read(struct.unpack("<I", header)[0]))
        if answer.get("id") != str(self.next_id):
            fail("answer for the wrong request: %s" % answer)
        return answer

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                if data:
                    fail("the agent closed the connection inside a frame")
                return None
            data += chunk
        return data

    def close(self):
        self.sock.close()


def expect(answer, what, **fields):
    if answer is None:
        fail("%s: the agent closed the connection without an answer" % what)
    for key, value in fields.items():
        if answer.get(key) != value:
            fail("%s: expected %s=%r, got %s" % (what, key, value, answer))
    return answer


def probe(container_pid):
    pod = Pod()
    token = pod.token()
    agent_port = pod.port(pod.container["readinessProbe"]["tcpSocket"]["port"])
    liveness = pod.container["livenessProbe"]["httpGet"]
    metrics_url = "http://127.0.0.1:%d%s" % (pod.port(liveness["port"]), liveness["path"])

    # The container's own network namespace: it must hold nothing but loopback, so that none of
    # the traffic below can leave it.
    with open("/proc/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    if interfaces != ["lo"]:
        fail("the container's network namespace has interfaces %s, expected only lo"
             % interfaces)
    ok("the container's network has only loopback")

    # The readiness probe: a TCP connection to the agent's port.
    deadline = time.monotonic() + 120
    while True:
        if not os.path.exists("/proc/%s" % container_pid):
            fail("the container exited before it was ready; its log follows")
        try:
            socket.create_connection(("127.0.0.1", agent_port), timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                fail("nothing listens on port %d after 120 s" % agent_port)
            time.sleep(0.2)
    ok("ready: port %d accepts connections" % agent_port)

    a = Agent(agent_port)
    answer = expect(a.call({"type": "ping"}), "ping without the token")
    if not str(answer.get("error", "")).startswith("Unauthorized"):
        fail("a ping without the token was not refused: %s" % answer)
    if a.read(1) is not None:
        fail("the connection stayed open after Unauthorized")
    a.close()
    a = Agent(agent_port)
    answer = a.call({"type": "ping", "auth_token": token + "x"})
    if answer is None or not str(answer.get("error", "")).startswith("Unauthorized"):
        fail("a ping with a wrong token was not refused: %s" % answer)
    a.close()
    ok("ping without the token, or with a wrong one: Unauthorized, connection closed")

    def authed(request):
        return dict(request, auth_token=token)

    a = Agent(agent_port)
    expect(a.call(authed({"type": "ping"})), "ping with the token", exit_code=0)
    ok("ping with the token")
    answer = expect(a.call(authed({"type": "run", "command": ["id"]})), "run id", exit_code=0)
    uid = pod.security()["runAsUser"]
    if not re.match(r"uid=%d\b" % uid, answer.get("stdout", "")):
        fail("run id: expected uid=%d, got %s" % (uid, answer))
    ok("run id: %s" % answer["stdout"].strip())

    # What the kernel says of a command the agent runs: no capabilities, no way to gain any, a
    # seccomp filter (RuntimeDefault), and a root mounted read-only.
    answer = expect(a.call(authed({"type": "run", "command": [
        "sh", "-c", "cat /proc/self/status; echo; cat /proc/self/mounts"]})),
        "run cat /proc/self/status", exit_code=0)
    status = dict(re.findall(r"^(\w+):\s*(\S+)", answer.get("stdout", ""), re.M))
    expected = {"CapInh": "0000000000000000", "CapPrm": "0000000000000000",
                "CapEff": "0000000000000000", "CapBnd": "0000000000000000",
                "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
    for key, value in expected.items():
        if status.get(key) != value:
            fail("a command's %s is %s, expected %s" % (key, status.get(key), value))
    root_mounts = [line.split()[3].split(",") for line in answer["stdout"].splitlines()
                   if len(line.split()) > 3 and line.split()[1] == "/"]
    if not root_mounts or "ro" not in root_mounts[-1]:
        fail("the root is not mounted read-only: %s" % root_mounts)
    ok("a command has no capabilities, no_new_privs, a seccomp filter and a read-only root")

    content = os.urandom(3000) + "é\n".encode()
    encoded = base64.b64encode(content).decode()
    path = "/work/verify/probe.bin"
    expect(a.call(authed({"type": "write_file", "path": path, "content_base64": encoded})),
           "write_file " + path, exit_code=0)
    answer = expect(a.call(authed({"type": "read_file", "path": path})), "read_file " + path,
                    exit_code=0)
    if base64.b64decode(answer.get("content_base64", "")) != content:
        fail("read_file %s gave back other bytes than were written" % path)
    ok("write_file and read_file of %d bytes under /work" % len(content))

    for path in ["/verify-probe.txt", "/opt/agent/verify/probe.txt"]:
        answer = expect(a.call(authed({"type": "write_file", "path": path,
                                       "content_base64": encoded})), "write_file " + path)
        error = str(answer.get("error", ""))
        if not (error.startswith("Failed to write file: ")
                or error.startswith("Failed to create parent directory: ")) \
                or "Read-only file system" not in error:
            fail("write_file %s on the read-only root: expected a Read-only file system error,"
                 " got %s" % (path, answer))
        ok("write_file %s: %s" % (path, error))
    expect(a.call(authed({"type": "ping"})), "ping after the refused writes", exit_code=0)
    ok("the agent still answers after the refused writes")
    a.close()

    # The liveness probe: GET /metrics.
    try:
        with urllib.request.urlopen(metrics_url, timeout=TIMEOUT) as r:
            status, body = r.status, r.read().decode()
    except (OSError, urllib.error.URLError) as e:
        fail("GET %s: %s" % (metrics_url, e))
    if status != 200:
        fail("GET %s: status %d" % (metrics_url, status))
    names = {line.split("{")[0].split(" ")[0] for line in body.splitlines()
             if line.startswith("agent_")}
    for name in ["agent_requests_total", "agent_request_duration_seconds_bucket",
                 "agent_connections_active", "agent_runs_active"]:
        if name not in names:
            fail("GET %s: no %s among the agent_ metrics %s" % (metrics_url, name, sorted(names)))
    if not re.search(r'^agent_requests_total\{[^}]*type="ping"[^}]*\} [1-9]', body, re.M):
        fail("GET %s: agent_requests_total does not count the pings" % metrics_url)
    ok("GET %s: %d agent_ metrics, the pings counted" % (metrics_url, len(names)))


def check_log(stdout_file, stderr_file):
    token = Pod().token()
    with open(stdout_file, encoding="utf-8", errors="replace") as f:
        out = f.read()
    if out.strip():
        fail("the container wrote to stdout, which the log shares in the pod: %r" % out[:500])
    with open(stderr_file, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    events = []
    for n, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            fail("stderr line %d is not JSON: %r" % (n, line[:500]))
        if not isinstance(entry, dict) or not {"time", "level", "event"} <= entry.keys():
            fail("stderr line %d lacks time, level or event: %r" % (n, line[:500]))
        events.append(entry["event"])
    if token in "\n".join(lines):
        fail("the token appears in the log")
    for event in ["listening", "metrics", "ready", "unauthorized", "shutdown"]:
        if event not in events:
            fail("no %s event in the log; events: %s" % (event, events))
    ok("stderr: %d lines, each a JSON object with time, level and event; stdout empty; "
       "no token" % len(lines))


def main(argv):
    if argv[1:2] == ["settings"] and len(argv) == 3:
        settings(argv[2])
    elif argv[1:] == ["grace"]:
        print(Pod().grace())
    elif argv[1:2] == ["probe"] and len(argv) == 3:
        probe(argv[2])
    elif argv[1:2] == ["log"] and len(argv) == 4:
        check_log(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (OSError, KeyError, ValueError, yaml.YAMLError) as e:
        fail("%s: %s" % (type(e).__name__, e))
