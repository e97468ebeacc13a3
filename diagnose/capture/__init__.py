"""Live capture for `diagnose run`: pre-flight checks, perf recording, the counters recorded beside
it (threads, sockets, system calls, off-CPU waits), the environment, and the run folder as
storage (capture_dir writes it, capture_read reads it back)."""
