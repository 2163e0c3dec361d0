"""Makes moto's ExecuteChangeSet record what it applied, as CloudFormation does.

moto 5.2.5 applies a change set's resources but leaves the stack's
parameters as they were and never computes its outputs, so a stack created
or updated by change set (the only way git2s3 changes stacks) has no
outputs and stale parameters. This adds, after the change set is applied:

    stack.parameters = change_set.parameters
    stack._parse_template()
    stack.output_map = stack._create_output_map()

which is what moto's own UpdateStack does. It changes nothing else. The
patch is idempotent (a marker line), and fails loudly if moto's code no
longer has the line it anchors on, so a moto upgrade cannot silently drop it.
"""

import pathlib
import sys

import moto.cloudformation.models as models

MARKER = "# git2s3: record the applied change set"
ANCHOR = "        stack.template = change_set.template\n"
ADDED = (
    f"        {MARKER}\n"
    "        stack.parameters = change_set.parameters\n"
    "        stack._parse_template()\n"
    "        stack.output_map = stack._create_output_map()\n"
)

path = pathlib.Path(models.__file__)
text = path.read_text()
if MARKER in text:
    sys.exit(0)
if text.count(ANCHOR) != 1:
    sys.exit(f"patch_moto: {path} no longer has the line this patch follows; review scripts/patch_moto.py")
path.write_text(text.replace(ANCHOR, ANCHOR + ADDED))
for cached in path.parent.glob("__pycache__/models.*.pyc"):
    cached.unlink()
print(f"patch_moto: patched {path}")
