"""Counts the library's public surface in a git tree: root items (the names `pub use`d at
the crate root, plus public modules and the items they re-export) and public methods (`pub fn`
inside impl blocks, `pub(crate)` excluded)."""
import re, subprocess, sys
rev = sys.argv[1] if len(sys.argv) > 1 else 'HEAD'
import os
def show(path):
    if rev == 'WORK':
        return open(path).read() if os.path.exists(path) else ''
    return subprocess.run(['git','show',f'{rev}:{path}'],capture_output=True,text=True).stdout
if rev == 'WORK':
    files = [os.path.join(d, f) for d, _, fs in os.walk('corral/src') for f in fs]
else:
    files = subprocess.run(['git','ls-tree','-r','--name-only',rev,'corral/src'],capture_output=True,text=True).stdout.split()
lib = show('corral/src/lib.rs')
names=set()
root = re.sub(r'pub mod \w+ \{.*?\n\}', '', lib, flags=re.S)
for m in re.finditer(r'pub use ([a-z_:]+)::\{([^}]*)\};|pub use ([a-z_:]+)::(\w+);', root, re.S):
    if m.group(2):
        for n in m.group(2).replace('\n',' ').split(','):
            n=n.strip()
            if n and n!='self': names.add(n)
    else: names.add(m.group(4))
mods=re.findall(r'^pub mod (\w+)', lib, re.M)
inner=0
for body in re.findall(r'pub mod \w+ \{(.*?)\n\}', lib, re.S):
    for m in re.finditer(r'pub use [\w:]+::\{([^}]*)\}', body, re.S):
        inner += len([n for n in m.group(1).replace('\n',' ').split(',') if n.strip()])
for mod in mods:
    if mod=='source': continue
    src=show(f'corral/src/{mod}.rs')
    inner += len(re.findall(r'^pub (?:fn|struct|enum|trait|type|const|static) ', src, re.M))
    for m in re.finditer(r'^pub use [\w:]+::(\w+);', src, re.M): inner+=1
methods=0
for f in files:
    if f.endswith('.rs'):
        methods += len(re.findall(r'^    pub (?:const )?(?:async )?fn ', show(f), re.M))
print(f'{rev}: {len(names)} root names + {len(mods)} public modules + {inner} items in them = {len(names)+len(mods)+inner} public items; {methods} public methods')
