#!/usr/bin/env python3
"""make_bench_text.py OUT [MB] — a deterministic English-like text for the tokenizer benchmark:
paragraphs of sentences from a few hundred common words, with punctuation, numbers, quotes and
the occasional accented or CJK word, one paragraph per line."""
import random
import sys

WORDS = """the of and to a in is it you that he was for on are with as I his they be at one have this from
or had by word but what some we can out other were all there when up use your how said an each she which do
their time if will way about many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know water than call first who may down
side been now find any new work part take get place made live where after back little only round man year
came show every good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air well also play
small end put home read hand port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother world near build self earth
father head stand own page should country found answer school grow study still learn plant cover food sun
four between state keep eye never last let thought city tree cross farm hard start might story saw far sea
draw left late run don't while press close night real life few north open seem together next white children
begin got walk example ease paper group always music those both mark often letter until mile river car feet
care second book carry took science eat room friend began idea fish mountain stop once base hear horse cut
sure watch color face wood main enough plain girl usual young ready above ever red list though feel talk bird
soon body dog family direct pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew pass since top whole king space
heard best hour better true during hundred five remember step early hold west ground interest reach fast verb
sing listen six table travel less morning ten simple several vowel toward war lay against pattern slow center
love person money serve appear road map rain rule govern pull cold notice voice unit power town fine certain
fly fall lead cry dark machine note wait plan figure star box noun field rest correct able pound done beauty
drive stood contain front teach week final gave green oh quick develop ocean warm free minute strong special
mind behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object
decide surface deep moon island foot system busy test record boat common gold possible plane stead dry wonder
laugh thousand ago ran check game shape equate hot miss brought heat snow tire bring yes distant fill east
paint language among café naïve résumé Zürich 東京 photograph umbrella bicycle trustworthy hallucination""".split()


def sentence(r):
    n = r.randint(4, 22)
    w = [r.choice(WORDS) for _ in range(n)]
    if r.random() < 0.2:
        w.insert(r.randint(0, n), str(r.randint(0, 2026)))
    if r.random() < 0.15:
        i = r.randint(0, n - 1)
        w[i] = '"' + w[i] + '"'
    if r.random() < 0.3:
        w[r.randint(0, n - 2)] += ","
    s = " ".join(w)
    return s[0].upper() + s[1:] + r.choice([".", ".", ".", "?", "!", ";", ":"])


def main():
    out, mb = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4
    r = random.Random(7)
    size = 0
    with open(out, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            p = " ".join(sentence(r) for _ in range(r.randint(2, 9))) + "\n"
            f.write(p)
            size += len(p.encode())
    print(f"{out}: {size} bytes")


main()
