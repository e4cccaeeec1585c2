// What a process holds, read from /proc: resident memory (VmRSS) and open file descriptors.
// The overload test and the soak sample it to show both stay bounded under load and faults.
import fs from 'node:fs';

// {rssKb, fds, sanitized} of `pid` now; undefined once the process is gone. `sanitized`: the
// process reserved terabytes of address space, which AddressSanitizer's shadow memory does (its
// quarantine then holds freed memory, so its RSS says less about the program's own).
export function procUsage(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm'))[1]);
    return { rssKb: kb('VmRSS'), fds: fs.readdirSync(`/proc/${pid}/fd`).length, sanitized: kb('VmSize') > 2 ** 30 };
  } catch {
    return undefined;
  }
}

// Samples procUsage(pid) every intervalMs (and once at once) until stop(), which returns the
// samples [{at (ms since t0, the Date.now() of the start), rssKb, fds}]. A process that exits
// just stops adding samples.
export function sampleUsage(pid, intervalMs) {
  const t0 = Date.now();
  const samples = [];
  const take = () => {
    const u = procUsage(pid);
    if (u) samples.push({ at: Date.now() - t0, ...u });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    t0,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    }
  };
}

// Environment for a watched process: AddressSanitizer keeps freed memory in a quarantine (256 MB
// by default), growth of RSS that says nothing about the program's own bounds; capped at 16 MB
// here (a binary built without ASan ignores ASAN_OPTIONS).
export function watchedEnv() {
  return { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':') };
}
