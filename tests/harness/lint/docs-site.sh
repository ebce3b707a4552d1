#!/usr/bin/env bash
# The collection's documentation as a docs site would show it, from the
# INSTALLED built tarball (what Galaxy gets), offline:
#   1. `antsibull-docs lint-collection-docs --plugin-docs`: the docs of every
#      module, filter and role against antsibull-docs' schemas and markup
#      (references inside this collection must resolve);
#   2. the Sphinx site, made as `antsibull-docs sphinx-init` makes it and
#      built with warnings as errors. No intersphinx inventory is fetched:
#      references to other collections (community.docker, ansible.builtin)
#      and to Ansible's own docs become plain text, references into this
#      collection must still resolve (nitpicky).
# Role pages come from meta/argument_specs.yml, each entry point's
# `examples` included.
#   AISTACK_DOCS_SITE_KEEP=DIR   keep the built site in DIR (open DIR/build/html/index.html)
set -euo pipefail
cd "$(dirname "$0")/../../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The installed copy only (and the venv's bundled collections for the
# dependencies): the checkout itself must not count as installed.
export ANSIBLE_COLLECTIONS_PATH="$work/installed"
ansible-galaxy collection build --output-path "$work" . >/dev/null
mkdir -p "$work/installed"
ansible-galaxy collection install --force --no-deps -p "$work/installed" "$work"/aistack-deploy-*.tar.gz >/dev/null
installed=$work/installed/ansible_collections/aistack/deploy

start=$SECONDS
# --skip-rstcheck: the site build below parses the same RST, warnings as errors.
antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck "$installed"
echo "antsibull-docs lint-collection-docs ok ($((SECONDS - start)) s)"

start=$SECONDS
site=$work/site
mkdir -p "$site"
antsibull-docs sphinx-init --use-current --dest-dir "$site" --fail-on-error \
  --project aistack.deploy --copyright "aistack.deploy developers" \
  --title "aistack.deploy" --html-short-title "aistack.deploy" \
  aistack.deploy >/dev/null
cat >>"$site/conf.py" <<'EOF'

# --- tests/harness/lint/docs-site.sh: offline ---
# No inventory is fetched: an empty intersphinx mapping.
intersphinx_mapping = {}


def _external_reference_as_text(app, env, node, contnode):
    """Render a reference outside this collection as its text; leave ours to nitpicky."""
    target = node.get('reftarget', '')
    if node.get('refdomain') == 'std' and not target.startswith('ansible_collections.aistack.deploy.'):
        return contnode
    return None


def setup(app):
    app.connect('missing-reference', _external_reference_as_text)
EOF
# build.sh as sphinx-init writes it: `antsibull-docs collection` into rst/,
# then sphinx-build -W --keep-going.
(cd "$site" && ./build.sh >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }
pages=$site/build/html/collections/aistack/deploy
for role in roles/*/; do
  name=$(basename "$role")
  page=$pages/${name}_role.html
  [ -s "$page" ] || { echo "the docs site has no page for role $name" >&2; exit 1; }
  if grep -q '^    examples:' "$role/meta/argument_specs.yml" && ! grep -q 'id="examples"' "$page"; then
    echo "the page of role $name shows no examples, although its argument spec has them" >&2
    exit 1
  fi
done
for module in plugins/modules/*.py; do
  [ -s "$pages/$(basename "$module" .py)_module.html" ] || { echo "the docs site has no page for module $module" >&2; exit 1; }
done
echo "docs site ok: $(find "$pages" -name '*.html' | wc -l) pages ($((SECONDS - start)) s)"
if [ -n "${AISTACK_DOCS_SITE_KEEP:-}" ]; then
  rm -rf "$AISTACK_DOCS_SITE_KEEP"
  cp -r "$site" "$AISTACK_DOCS_SITE_KEEP"
  echo "kept in $AISTACK_DOCS_SITE_KEEP"
fi
