"""Makes two of moto's calls do what AWS does, where git2s3 depends on it.

1. ExecuteChangeSet. moto 5.2.5 applies a change set's resources but
   leaves the stack's parameters as they were and never computes its
   outputs, so a stack created or updated by change set (the only way
   git2s3 changes stacks) has no outputs and stale parameters. This adds,
   after the change set is applied:

       stack.parameters = change_set.parameters
       stack._parse_template()
       stack.output_map = stack._create_output_map()

   which is what moto's own UpdateStack does.

2. UpdateSecretVersionStage. Moving AWSCURRENT to another version moves
   the labels, but GetSecretValue without a stage keeps answering with the
   old version (moto reads its `default_version_id`, which only
   PutSecretValue sets). AWS answers with the version labelled
   AWSCURRENT, and `git2s3 rotate deploy-key` relies on it. This sets
   `default_version_id` to the version AWSCURRENT moved to.

Each patch changes nothing else, is idempotent (a marker line), and fails
loudly if moto's code no longer has the line it anchors on, so a moto
upgrade cannot silently drop it.
"""

import pathlib
import sys

import moto.cloudformation.models as cloudformation
import moto.secretsmanager.models as secretsmanager

PATCHES = [
    (
        cloudformation,
        "# git2s3: record the applied change set",
        "        stack.template = change_set.template\n",
        "        stack.parameters = change_set.parameters\n"
        "        stack._parse_template()\n"
        "        stack.output_map = stack._create_output_map()\n",
    ),
    (
        secretsmanager,
        "# git2s3: AWSCURRENT is what GetSecretValue answers with",
        "            if move_to_version_id:\n"
        "                stages = secret.versions[move_to_version_id][\"version_stages\"]\n"
        "                if \"AWSPREVIOUS\" in stages:\n"
        "                    stages.remove(\"AWSPREVIOUS\")\n",
        "                secret.default_version_id = move_to_version_id\n",
    ),
]

for module, marker, anchor, added in PATCHES:
    path = pathlib.Path(module.__file__)
    text = path.read_text()
    if marker in text:
        continue
    if text.count(anchor) != 1:
        sys.exit(f"patch_moto: {path} no longer has the lines this patch follows; review scripts/patch_moto.py")
    indent = added[: len(added) - len(added.lstrip())]
    path.write_text(text.replace(anchor, anchor + f"{indent}{marker}\n" + added))
    for cached in path.parent.glob("__pycache__/models.*.pyc"):
        cached.unlink()
    print(f"patch_moto: patched {path}")
