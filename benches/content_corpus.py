#!/usr/bin/env python3
"""Build a corpus of real text with no boilerplate, from files Debian packages install,
and the same corpus with boilerplate planted into it.

    python3 benches/content_corpus.py OUT_DIR [--seed N]

Writes OUT_DIR/content.jsonl (one record per man page, copyright file, license,
changelog or plain-text document; field "source" names the kind) and
OUT_DIR/planted.jsonl with OUT_DIR/planted-truth.jsonl: the same documents, each
put on one of nine made-up sites whose pages carry date lines (month and weekday
names in four languages), app and share lines, ads between paragraphs, "Source:"
labels at the edges or mid-page, related-headline lines with relative times, and,
for some sites, a marker (with or without a colon, any case) followed by one of
the site's other pages. The truth lists the planted line numbers of every record.

Nothing is copied into the repository: the corpus is made from what this machine
has installed (man pages in several languages, /usr/share/doc, common licenses).
Man pages are rendered with man(1) at 80 columns, as a user would read them.
"""
import glob
import gzip
import json
import os
import random
import subprocess
import sys


def read_text(path, max_lines):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as f:
            lines = []
            for i, line in enumerate(f):
                if i >= max_lines:
                    break
                lines.append(line.rstrip("\n"))
    except (UnicodeDecodeError, OSError):
        return None
    text = "\n".join(lines).strip("\n")
    return text if len(text) > 200 else None


def render_man(path):
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    try:
        out = subprocess.run(["man", "-l", "-E", "UTF-8", path], capture_output=True, env=env,
                             timeout=20).stdout
        out = subprocess.run(["col", "-b", "-x"], input=out, capture_output=True,
                             timeout=20).stdout.decode("utf-8", "replace")
    except (subprocess.TimeoutExpired, OSError):
        return None
    out = out.strip("\n")
    return out if len(out) > 200 else None


def every(paths, n):
    paths = sorted(paths)
    if len(paths) <= n:
        return paths
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def collect():
    docs = []
    man_en = [p for s in "1578" for p in glob.glob(f"/usr/share/man/man{s}/*.gz")]
    # gcloud's pages (most of man1 here) carry real boilerplate of their own, the same
    # flag blocks in every page: a source of their own.
    gcloud = [p for p in man_en if os.path.basename(p).startswith("gcloud")]
    man_en = [p for p in man_en if p not in set(gcloud)]
    for source, paths, n in (("man-en", man_en, 450), ("man-gcloud", gcloud, 100)):
        for p in every(paths, n):
            t = render_man(p)
            if t:
                docs.append((source, p, t))
    man_l10n = [p for lang in ("de", "fr", "es", "ru", "pl", "pt_BR", "uk", "it", "nl", "sv")
                for p in glob.glob(f"/usr/share/man/{lang}/man[18]/*.gz")]
    for p in every(man_l10n, 300):
        t = render_man(p)
        if t:
            docs.append(("man-l10n", p, t))
    for p in every(glob.glob("/usr/share/doc/*/copyright"), 500):
        t = read_text(p, 2000)
        if t:
            docs.append(("copyright", p, t))
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(p):
            t = read_text(p, 5000)
            if t:
                docs.append(("license", p, t))
    for p in every(glob.glob("/usr/share/doc/*/changelog.Debian.gz"), 250):
        t = read_text(p, 150)
        if t:
            docs.append(("changelog", p, t))
    txt = [p for p in glob.glob("/usr/share/doc/**/*", recursive=True)
           if os.path.isfile(p) and ("README" in os.path.basename(p)
                                     or p.endswith((".txt", ".txt.gz")))
           and "changelog" not in p.lower()]
    for p in every(txt, 250):
        t = read_text(p, 400)
        if t:
            docs.append(("doc-text", p, t))
    return docs


MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"],
    "ar": ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
           "أكتوبر", "نوفمبر", "ديسمبر"],
}
DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "ar": ["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"],
}
SITES = [
    # name, lang, date format, ad, follow, source at, related, marker
    ("Daily Wire Desk", "en", "Posted on {mon3} {d}, {y} at {h}:{mi} {ampm}", "Advertisement",
     "Follow us on WhatsApp", "top", True, "READ ALSO"),
    ("Le Quotidien", "fr", "Publié le {day} {d} {mon} {y} à {h}h{mi}", "Publicité",
     "Suivez-nous sur Telegram", "mid", False, "Lire aussi :"),
    ("Tagesblick", "de", "{day}, {d}. {mon} {y} | {h}:{mi} Uhr", "ANZEIGE",
     None, "bottom", True, "Mehr zum Thema"),
    ("الوطن اليوم", "ar", "تاريخ النشر: {day} {d} {mon} {y}", "إعلان",
     "تابع أحدث الأخبار عبر تطبيق", "bottom", True, "إقرأ أيضاً"),
    ("Global Ledger", "en", "{day} {d} {mon} {y} | {h}:{mi} GMT", None,
     "Share this article", "mid", False, None),
    ("Tech Courier", "en", "Updated {mon} {d}, {y}", "Sponsored content",
     "Sign up for our newsletter", "top", False, "Read more:"),
    ("أخبار الساعة", "ar", "آخر تحديث: {day} {d} {mon} {y} - {h}:{mi}", None,
     "شارك هذا الخبر", "mid", True, None),
    ("Morning Post", "en", "Published {d} {mon} {y}", "ADVERTISEMENT", None, "bottom",
     False, "Related:"),
    ("Hebdo Région", "fr", "Mis à jour le {d} {mon} {y}", None, "Partager cet article",
     "top", True, "À LIRE AUSSI"),
]
REL = {
    "en": ["1 hour ago", "2 hours ago", "3 hours ago", "45 minutes ago", "5 hours ago"],
    "fr": ["il y a 1 heure", "il y a 2 heures", "il y a 30 minutes", "il y a 4 heures"],
    "de": ["vor 1 Stunde", "vor 2 Stunden", "vor 20 Minuten", "vor 5 Stunden"],
    "ar": ["منذ ساعة", "منذ ساعتين", "منذ 3 ساعات", "منذ 20 دقيقة"],
}


def date_line(rng, fmt, lang):
    m = rng.randrange(12)
    return fmt.format(mon=MONTHS[lang][m], mon3=MONTHS["en"][m][:3], day=DAYS[lang][rng.randrange(7)],
                      d=rng.randint(1, 28), y=rng.randint(2018, 2025), h=rng.randint(1, 12),
                      mi="%02d" % rng.randrange(60), ampm=rng.choice(["AM", "PM"]))


def paragraphs(text):
    """The text's paragraphs with their wrapped lines joined."""
    paras, cur = [], []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return paras


def article(text):
    """A page of another site's text as an appended article: a headline and two or
    three paragraphs of prose."""
    def is_prose(p):
        words = p.split()
        return (len(words) >= 12 and p.endswith(".") and "://" not in p
                and sum(w.isalpha() for w in words) >= 0.7 * len(words))
    prose = [p for p in paragraphs(text) if is_prose(p)]
    if len(prose) < 2:
        return None
    return [" ".join(prose[0].split()[:8]).rstrip(".,;:")] + prose[:3]


def headline(text):
    for p in paragraphs(text):
        words = p.split()
        if len(words) >= 6:
            return " ".join(words[:8]).rstrip(".,;:")
    return "Untitled page"


def plant(docs, seed):
    rng = random.Random(seed)
    # Each site appends its own recent pages after its marker (a pool per site).
    articles = [a for a in (article(d[2]) for d in docs) if a]
    pools = {s: rng.sample(articles, 4) for s in range(len(SITES))}
    out = []
    for i, (source, path, text) in enumerate(docs):
        s = i % len(SITES)
        name, lang, fmt, ad, follow, src_at, related, marker = SITES[s]
        lines = text.split("\n")
        planted = [[l, False] for l in lines]
        # On pages whose paragraphs are separated by blank lines, each planted line is
        # a paragraph of its own, as a page rendered to text would have it.
        gaps = sum(1 for l in lines if not l.strip())
        sep = gaps * 5 >= len(lines)

        def bp(line):
            return [line, True]
        first = 1 if lines else 0
        head = [bp(date_line(rng, fmt, lang))]
        if follow:
            head.append(bp(follow))
        if src_at == "top":
            head.append(bp(f"Source: {name}" if lang != "ar" else f"المصدر: {name}"))
        if sep:
            head = [["", False]] + [x for h in head for x in (h, ["", False])]
        planted[first:first] = head
        # Ads and mid-page labels after a blank line a third of the way down.
        blanks = [k for k, (l, b) in enumerate(planted) if not l.strip() and k > first + 3]
        if ad and blanks:
            k = blanks[len(blanks) // 3]
            planted[k:k] = ([["", False]] if sep else []) + [bp(ad)]
        if src_at == "mid" and blanks:
            k = blanks[min(len(blanks) - 1, 1)]
            planted[k:k] = (([["", False]] if sep else [])
                            + [bp(f"Source: {name}" if lang != "ar" else f"المصدر: {name}")])
        tail = []
        if src_at == "bottom":
            tail.append(bp(f"Source: {name}" if lang != "ar" else f"المصدر: {name}"))
        if related:
            others = rng.sample(docs, 3)
            rel = rng.sample(REL[lang], 2)
            tail.append(bp(f"{headline(others[0][2])} {rel[0]} {headline(others[1][2])} {rel[1]}"))
        tail.append(bp(f"© {rng.randint(2019, 2025)} {name}. All rights reserved."))
        if sep:
            tail = [["", False]] + [x for t in tail for x in (t, ["", False])]
        if marker:
            tail.append(bp(marker))
            tail.extend(bp(l) for l in rng.choice(pools[s]))
        planted.extend(tail)
        text = "\n".join(l for l, _ in planted)
        truth = [k for k, (l, b) in enumerate(planted) if b and l.strip()]
        out.append((source, path, text, truth))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 7
    os.makedirs(out_dir, exist_ok=True)
    docs = collect()
    with open(os.path.join(out_dir, "content.jsonl"), "w") as f:
        for source, path, text in docs:
            f.write(json.dumps({"id": path, "source": source, "text": text}, ensure_ascii=False) + "\n")
    planted = plant(docs, seed)
    with open(os.path.join(out_dir, "planted.jsonl"), "w") as f, \
            open(os.path.join(out_dir, "planted-truth.jsonl"), "w") as t:
        for source, path, text, truth in planted:
            f.write(json.dumps({"id": path, "source": source, "text": text}, ensure_ascii=False) + "\n")
            t.write(json.dumps({"id": path, "boilerplate_lines": truth}) + "\n")
    counts = {}
    for source, _, _ in docs:
        counts[source] = counts.get(source, 0) + 1
    print(json.dumps({"documents": len(docs), "by_source": counts}), file=sys.stderr)


if __name__ == "__main__":
    main()
