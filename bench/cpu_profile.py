"""Where a server's CPU goes during one run: sampled with `perf`, folded into call stacks,
summed by stage of a request, and drawn as a flame graph (SVG, hover for each frame's
share). Used by bench.py for Kinbridge's runs; nothing here is specific to one server
except the stage names below.
"""

import collections
import html
import re
import shutil
import subprocess
from pathlib import Path

# The stages of a request, in the order a sample is tested against them: a sample belongs
# to the first stage one of its frames matches, looking from the innermost frame out, so
# that allocation and the kernel are counted where they happen, and everything else by
# the innermost piece of Kinbridge or its libraries it was in.
STAGES = [
    ("allocating and freeing memory", r"^_?mi_|^mi_|malloc|^free$|cfree|__rust_(alloc|dealloc|realloc)"),
    ("the kernel (network, scheduling, page faults)", r"\[k\]|^(tcp_|ip_|__tcp|__ip|sock_|do_syscall|entry_SYSCALL|"
                                                      r"__schedule|exc_page_fault|asm_exc)"),
    ("tracing's span bookkeeping", r"^tracing|sharded_slab|tracing_subscriber|tracing_core"),
    ("decoding rows into records", r"FromRow|from_row|Row::try_get|DataRow|TryGetable|records::"),
    ("the driver's protocol (sending statements, reading rows)", r"^sqlx_|^<sqlx_|sqlx_core|sqlx_postgres"),
    ("building SQL", r"sea_query|pages_statement|sea_orm::query"),
    ("rendering values (resolvers, level.rs)", r"kinbridge_api::level|resolve_field|resolver_utils|OutputType"),
    ("writing the response's JSON", r"serde_json|Serialize|value_serde"),
    ("putting keys in selection order (shape.rs)", r"kinbridge_api::shape"),
    ("parsing and validating the query", r"async_graphql::validation|async_graphql_parser|pest|parsed::"),
    ("authentication", r"jsonwebtoken|kinbridge_api::auth|hmac|sha2|ring::"),
    ("HTTP (hyper, axum, tower)", r"hyper|axum|tower"),
    ("the async runtime", r"tokio::"),
]


def available():
    return shutil.which("perf") is not None


def record(pid, seconds, out):
    """Samples `pid`'s threads for `seconds`, with call stacks unwound from DWARF (the
    release build keeps no frame pointers). Returns the perf process: wait for it.

    Each sample copies 64 KiB of the stack, the most perf takes: a request's futures nest
    deep, and with 16 KiB 3.5 % of the samples of page (b) reached the thread's start,
    with 64 KiB a quarter (the others are drawn from the outermost frame they kept)."""
    return subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "--call-graph", "dwarf,65528",
                             "-p", str(pid), "-o", str(out), "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _name(sym):
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym.strip())
    return sym or "[unknown]"


def fold(perf_data):
    """{stack (outermost first): samples} from a perf.data file."""
    out = subprocess.run(["perf", "script", "--no-inline", "-i", str(perf_data), "-F", "ip,sym"], capture_output=True,
                         text=True, errors="replace")
    stacks = collections.Counter()
    frames = []
    for line in out.stdout.splitlines() + [""]:
        if not line.strip():
            if frames:
                stacks[tuple(reversed(frames))] += 1
            frames = []
            continue
        parts = line.strip().split(" ", 1)
        name = _name(parts[1] if len(parts) > 1 else "")
        if name not in ("[unknown]",) and not name.startswith("0xffff"):
            frames.append(name)
    return stacks


def stages(stacks):
    """[(stage, share of samples)], largest first."""
    compiled = [(name, re.compile(pattern)) for name, pattern in STAGES]
    counts = collections.Counter()
    total = sum(stacks.values()) or 1
    for stack, n in stacks.items():
        stage = "elsewhere"
        for frame in reversed(stack):
            hit = next((name for name, rx in compiled if rx.search(frame)), None)
            if hit:
                stage = hit
                break
        counts[stage] += n
    return [(name, n / total) for name, n in counts.most_common()]


def _short(name):
    """A frame's label: `<T as Trait>::f` as `T::f`, generic parameters and closures dropped."""
    previous = None
    while previous != name:
        previous = name
        name = re.sub(r"<([^<>]*?) as [^<>]*>", r"\1", name)
        name = re.sub(r"<[^<>]*>", "", name)
    return name.replace("::{{closure}}", "")


def flamegraph(stacks, path, title, width=1200, row=16, min_share=0.002):
    """Writes a flame graph of `stacks` to `path` (SVG): the outermost frame at the bottom,
    each frame as wide as its share of the samples."""
    tree = {}
    for stack, n in stacks.items():
        node = tree
        for frame in stack:
            child = node.setdefault(_short(frame), {"n": 0, "kids": {}})
            child["n"] += n
            node = child["kids"]
    total = sum(stacks.values()) or 1
    rects = []

    def walk(kids, x, depth):
        for name, child in sorted(kids.items()):
            w = child["n"] / total
            if w >= min_share:
                rects.append((x, depth, w, name, child["n"]))
                walk(child["kids"], x, depth + 1)
            x += w

    walk(tree, 0.0, 0)
    depth = max((d for _, d, _, _, _ in rects), default=0) + 1
    height = (depth + 3) * row
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" '
           f'font-size="11"><rect width="100%" height="100%" fill="#fdfdf5"/>',
           f'<text x="6" y="{row}">{html.escape(title)} ({total} samples)</text>']
    for x, d, w, name, n in rects:
        px, pw, py = x * width, w * width, height - (d + 1) * row
        hue = 10 + sum(name.split("::")[0].encode()) % 50
        label = html.escape(name[: max(0, int(pw / 7))])
        out.append(f'<g><title>{html.escape(name)}: {100 * n / total:.1f} %</title>'
                   f'<rect x="{px:.1f}" y="{py}" width="{max(pw - 0.5, 0.1):.1f}" height="{row - 1}" '
                   f'fill="hsl({hue},85%,62%)"/><text x="{px + 2:.1f}" y="{py + row - 4}">{label}</text></g>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out))
