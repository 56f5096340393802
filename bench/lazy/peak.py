#!/usr/bin/env python3
"""Peak resident memory of a command over its first SECONDS seconds, then the command is killed.

    python3 bench/lazy/peak.py SECONDS LOG -- tlkit finetune CONFIG --out DIR

Samples VmRSS and VmHWM from /proc every 0.5 s and writes them (seconds since start, MiB) to
LOG; prints the largest VmHWM seen. Used to compare the data-loading phase of an eager and a
deferred-transform build side by side without running the whole study.
"""
import os
import signal
import subprocess
import sys
import time

seconds, log = float(sys.argv[1]), sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
start, peak = time.time(), 0.0
with open(log, "w") as out:
    out.write("seconds\trss_mib\thwm_mib\n")
    while proc.poll() is None and time.time() - start < seconds:
        try:
            status = open(f"/proc/{proc.pid}/status").read()
        except FileNotFoundError:
            break
        kib = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines()
               if l.startswith(("VmRSS", "VmHWM"))}
        if "VmHWM" in kib:
            peak = max(peak, kib["VmHWM"] / 1024)
            out.write(f"{time.time() - start:.1f}\t{kib['VmRSS'] / 1024:.0f}\t{kib['VmHWM'] / 1024:.0f}\n")
            out.flush()
        time.sleep(0.5)
if proc.poll() is None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
print(f"peak VmHWM {peak:.0f} MiB over {time.time() - start:.0f} s (exit {proc.returncode})")
