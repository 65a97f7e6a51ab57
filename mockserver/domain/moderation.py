"""Moderation: which requests fail `content_policy_violation`, and with what message."""

from __future__ import annotations

import fnmatch
import re

from .profiles import Moderation
from .tasks import Failure, VideoRequest


class Moderator:
    """Blocked terms in a prompt (whole words, case-insensitive), and image URLs that "show
    real people" (glob patterns)."""

    def __init__(self, rules: Moderation) -> None:
        self.rules = rules
        self._terms = [
            (re.compile(rf"\b{re.escape(term)}\b"), message)
            for term, message in rules.blocked_terms.items()
        ]
        # one search tells a clean prompt (nearly all of them) from one to look at term by term
        self._any_term = (
            re.compile("|".join(p.pattern for p, _ in self._terms)) if self._terms else None
        )

    def moderate(self, request: VideoRequest) -> Failure | None:
        """The moderation failure a request earns, if any; the first term listed wins."""
        prompt = request.prompt.lower()
        if self._any_term is not None and self._any_term.search(prompt):
            for pattern, message in self._terms:
                if pattern.search(prompt):
                    return blocked(f"{message} in the prompt")
        for url in request.image_urls:
            if any(fnmatch.fnmatch(url, pattern) for pattern in self.rules.people_images):
                return blocked("photorealistic people detected in image")
        return None


def blocked(reason: str) -> Failure:
    """A content-policy failure in the vendor's words: its title, then why."""
    return Failure(
        "content_policy_violation",
        f"Content policy violation.\nYour request was blocked by safety filters: {reason}.",
    )
