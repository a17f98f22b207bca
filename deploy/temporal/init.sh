#!/bin/sh
# One-shot (temporalio/admin-tools): once the server is healthy, create the namespace and
# register vangnet's custom search attributes (RULES §9). Safe to run again: existing
# namespaces and attributes are left alone.
#
#   TEMPORAL_ADDRESS            host:port of the frontend
#   TEMPORAL_NAMESPACE          namespace to create (default "default")
#   NAMESPACE_RETENTION         retention of closed workflows (default 30d)
#   VANGNET_SEARCH_ATTRIBUTES   space-separated Name=Type pairs
set -eu

: "${TEMPORAL_ADDRESS:?}" "${VANGNET_SEARCH_ATTRIBUTES:?}"
NS="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-30d}"
ATTEMPTS="${INIT_MAX_ATTEMPTS:-60}"

i=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  [ "$i" -ge "$ATTEMPTS" ] && { echo "Temporal at $TEMPORAL_ADDRESS is not healthy; giving up" >&2; exit 1; }
  echo "waiting for Temporal at $TEMPORAL_ADDRESS ($i/$ATTEMPTS)"
  i=$((i + 1)); sleep 2
done

if temporal operator namespace describe --namespace "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  # Set explicitly on every start, so a changed NAMESPACE_RETENTION takes effect (the archiver
  # copies every closed case into the case store long before Temporal deletes it).
  temporal operator namespace update --namespace "$NS" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "namespace $NS exists (retention $RETENTION)"
else
  temporal operator namespace create --namespace "$NS" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "namespace $NS created (retention $RETENTION)"
fi

# A namespace just created may take a moment to be visible to every frontend.
i=1
until existing="$(temporal operator search-attribute list --namespace "$NS" --address "$TEMPORAL_ADDRESS" 2>/dev/null)"; do
  [ "$i" -ge "$ATTEMPTS" ] && { echo "cannot list search attributes of $NS" >&2; exit 1; }
  i=$((i + 1)); sleep 2
done

for pair in $VANGNET_SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"; type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name exists"
    continue
  fi
  temporal operator search-attribute create --namespace "$NS" --address "$TEMPORAL_ADDRESS" \
    --name "$name" --type "$type"
  echo "search attribute $name ($type) registered"
done
echo "Temporal namespace $NS is ready for vangnet"
