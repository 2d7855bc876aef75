"""build_result.py: the end of a paas-build run, turned into one JSON document.

Reads the Procfile and each buildpack's `bin/release` output (the small YAML subset that
classic buildpacks print), merges the process types (later buildpacks override earlier
ones, the Procfile overrides them all, per type), prints Heroku's "Discovering process
types" lines and writes the result file. Never raises on bad user input: a malformed
Procfile line is reported and skipped.

usage: python3 build_result.py OUT_JSON PROCFILE STACK NAME1 URL1 RELEASE1 [NAME2 URL2 RELEASE2 ...]
  (RELEASE is a file holding that buildpack's bin/release stdout, or "" when it printed none)
"""
import json
import os
import re
import sys

PROCESS_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.*?)\s*$")


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def parse_release_yaml(text):
    """The subset of YAML bin/release prints: top-level keys holding flat maps."""
    sections = {"default_process_types": {}, "config_vars": {}}
    current = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#") or line.strip() in ("---", "..."):
            continue
        if not line[0].isspace():
            key, _, rest = line.partition(":")
            key = key.strip()
            rest = rest.strip()
            current = key if key in sections else None
            if current and rest.startswith("{") and rest.endswith("}") and rest != "{}":
                for item in rest[1:-1].split(","):
                    k, _, v = item.partition(":")
                    if k.strip():
                        sections[current][unquote(k)] = unquote(v)
            continue
        if current is None:
            continue
        k, sep, v = line.strip().partition(":")
        if sep:
            sections[current][unquote(k)] = unquote(v)
    return sections


def parse_procfile(path, warnings):
    types = {}
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = PROCFILE_LINE.match(line)
            if not match or not match.group(2):
                warnings.append(f"Procfile line {number} is not `type: command`; skipped: {line[:80]}")
                continue
            types[match.group(1)] = match.group(2)
    return types


def main(argv):
    if len(argv) < 4 or (len(argv) - 4) % 3:
        print(__doc__, file=sys.stderr)
        return 64
    out_path, procfile, stack = argv[1], argv[2], argv[3]
    warnings = []
    buildpacks = []
    defaults = {}
    config_vars = {}
    rest = argv[4:]
    for i in range(0, len(rest), 3):
        name, url, release_file = rest[i : i + 3]
        buildpacks.append({"name": name, "url": url})
        if release_file and os.path.isfile(release_file):
            with open(release_file, encoding="utf-8", errors="replace") as handle:
                parsed = parse_release_yaml(handle.read())
            for key, value in parsed["default_process_types"].items():
                if PROCESS_TYPE.match(str(key)) and str(value).strip():
                    defaults[str(key)] = str(value)
                else:
                    warnings.append(f"buildpack {name} declared an invalid process type {key!r}; skipped")
            config_vars.update({str(k): str(v) for k, v in parsed["config_vars"].items()})

    declared = parse_procfile(procfile, warnings)
    process_types = dict(defaults)
    if declared:
        process_types.update(declared)

    print("-----> Discovering process types")
    for warning in warnings:
        print(f" !     {warning}")
    if declared is not None:
        print(f"       Procfile declares types     -> {', '.join(declared) or '(none)'}")
    if defaults:
        print(f"       Default types for buildpack -> {', '.join(defaults)}")
    if not process_types:
        print(" !     No process types found: add a Procfile such as `web: python3 app.py`")
    elif "web" not in process_types:
        print("       No web process type: this app will get no HTTP traffic")

    result = {
        "version": 1,
        "stack": stack,
        "buildpacks": buildpacks,
        "process_types": process_types,
        "default_process_types": defaults,
        "config_vars": config_vars,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        handle.write("\n")
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
