"""Shared pieces of the profile tests (issue 12): the store's text form of
a profile, written here from its definition in src/prof_stacks_text.c (a
second implementation: what the module reads back must be what that
comment says), and a known wall-clock profile of one request."""

STATE = {"oncpu": 0, "waiting": 1, "unknown": -1}

BURN = "proftest_burn_cpu"
# Names that break lines, fields, escapes or markup if anything on the
# way writes them as they are.
WAIT = "read backend; then wait"
HOSTILE = "<script>alert('x')</script> & \"q\" %41"


def s1_str(s):
    """A string field of the stacks1 text."""
    if s is None:
        return "-"
    return "'" + "".join("%%%02X" % ord(c)
                         if ord(c) <= 0x20 or c in "\x7f%" else c
                         for c in s)


def stacks1(frames, stacks, wall=1, period_ns=1000000, start_us=0,
            duration_ns=0):
    """frames: names; stacks: (frame names root first, samples, state)."""
    assert all(ord(c) < 0x80 for f in frames for c in f), "ASCII names only"
    lines = ["stacks1 %d %d %d %d" % (wall, period_ns, start_us, duration_ns)]
    for f in frames:
        lines.append("f 0 0 0 %s -" % s1_str(f))
    for names, samples, state in stacks:
        idx = [frames.index(n) for n in reversed(names)]   # leaf first
        lines.append("s %d %d %d %d %s %s %s" % (
            samples, samples * period_ns, STATE[state], 4242, s1_str("/burn"),
            s1_str("handler"), ",".join(map(str, idx))))
    return "\n".join(lines) + "\n"


# A request that burned 70 % of its time in proftest_burn_cpu, waited 20 %
# and spent 10 % in a function with a hostile name; 1000 Hz.
FRAMES = ["main", "ap_run_handler", BURN, WAIT, HOSTILE]
STACKS = [
    (["main", "ap_run_handler", BURN], 700, "oncpu"),
    (["main", "ap_run_handler", WAIT], 200, "waiting"),
    (["main", HOSTILE], 100, "oncpu"),
]
PROFILE = stacks1(FRAMES, STACKS, start_us=1764660000000000,
                  duration_ns=1000000000)
