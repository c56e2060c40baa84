"""Exponential backoff with jitter, pure (the caller supplies the random number).

Why jitter: after a broker or access-point restart a whole street of boards reconnects; random
spread keeps them from arriving in lock-step.
"""


class Backoff:
    """delay_n = min(max, min * factor**n), shortened by up to `jitter` (fraction) at random,
    never below min_ms. reset() after a connection proved stable."""

    def __init__(self, min_ms=1000, max_ms=60000, factor=2, jitter=0.5):
        if min_ms <= 0 or max_ms < min_ms or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("bad backoff parameters")
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0

    def reset(self):
        self.attempt = 0

    def base_ms(self, attempt):
        d = self.min_ms
        for _ in range(attempt):
            d *= self.factor
            if d >= self.max_ms:
                return self.max_ms
        return int(min(d, self.max_ms))

    def next_ms(self, rand):
        """Delay before the next attempt; rand is uniform in [0, 1)."""
        base = self.base_ms(self.attempt)
        self.attempt += 1
        d = int(base - base * self.jitter * rand)
        d = max(d, self.min_ms)
        return d
