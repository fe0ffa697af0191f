import json,sys,glob,statistics as st,collections
root=sys.argv[1]
d=collections.defaultdict(list)
for v in ['old','new']:
    for f in sorted(glob.glob(f'{root}/{v}-*/scaling.json')+glob.glob(f'{root}/{v}-*.json')):
        rows=json.load(open(f))
        rows=rows['rows'] if isinstance(rows,dict) else rows
        for r in rows:
            d[(r['policy'],r['threads'],v)].append((r['samples_per_sec'],r['speedup_vs_plain'],r['final_loss']))
keys=sorted({(p,t) for p,t,v in d},key=lambda k:(k[0]!='plain',k[0],k[1]))
print("| policy | threads | old samples/s | new samples/s | new/old | old vs plain | new vs plain | old final loss | new final loss |")
print("|---|---|---|---|---|---|---|---|---|")
for p,t in keys:
    o=d.get((p,t,'old'),[]); n=d.get((p,t,'new'),[])
    if not o or not n: continue
    mo=st.median(x[0] for x in o); mn=st.median(x[0] for x in n)
    print(f"| {p} | {t} | {mo:.0f} | {mn:.0f} | {mn/mo:.2f}x | {st.median(x[1] for x in o):.2f}x | {st.median(x[1] for x in n):.2f}x | {st.median(x[2] for x in o):.5f} | {st.median(x[2] for x in n):.5f} |")
print(f"\nmedian of {len(o)} interleaved runs each (old, new, old, new, ...)")
