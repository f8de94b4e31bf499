#!/usr/bin/env bash
# Mutation testing (Stryker.NET, pinned in .config/dotnet-tools.json) over the security- and protocol-critical
# files listed in stryker-config.json. A local command, not a CI step. See DEVELOPERS.md, "Mutation testing".
#
#   bash tests/mutation/run.sh                every listed file, one Stryker run (one build)
#   bash tests/mutation/run.sh AREA           one area: identity, secrets, eventstream, sse, routing
#   bash tests/mutation/run.sh AREA [ARGS…]   extra Stryker options, e.g. --mutate "**/Routing/RequestRouter.cs"
#
# Each area mutates only its files and runs only its own unit test classes (a test-case filter), with per-test
# coverage. Reports (HTML, JSON) go to tests/mutation/reports/<area>/, which git ignores. Stryker builds in
# Release, so the Debug build that `dotnet test` uses is never touched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

area=all
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then area=$1; shift; fi

# Area → the files it mutates and the test classes that may kill their mutants.
# A --mutate (-m) among the extra options replaces the area's own list rather than adding to it, so one file of an
# area can be run alone with that area's test classes.
own_mutate=no
for arg in "$@"; do case "$arg" in -m|--mutate|--mutate=*) own_mutate=yes ;; esac; done
narrow=()
tests() { local IFS='|'; narrow+=(--test-case-filter "$*"); }
mutate() { [ "$own_mutate" = yes ] && return; for f in "$@"; do narrow+=(--mutate "$f"); done; }
case "$area" in
  all) ;;
  identity)
    mutate "**/Identity/ApiKeyIndex.cs" "**/Identity/ApiKeys.cs" "**/Identity/ApiKeyAuthenticator.cs" \
           "**/Identity/Passwords.cs" "**/Identity/Totp.cs" "**/Identity/RecoveryCodes.cs"
    tests "FullyQualifiedName~Gapura.Tests.Identity." ;;
  secrets)
    mutate "**/Secrets/SecretBox.cs" "**/Secrets/SecretKey.cs" "**/Secrets/KeyRing.cs" "**/Secrets/KeyRingLoader.cs" "**/Secrets/SecretRotation.cs"
    tests "FullyQualifiedName~Gapura.Tests.Secrets.SecretBox" "FullyQualifiedName~Gapura.Tests.Secrets.KeyRing" \
          "FullyQualifiedName~Gapura.Tests.Secrets.SqliteSecretRotation" "FullyQualifiedName~Gapura.Tests.Secrets.SecretRotationMutation" ;;
  eventstream)
    mutate "**/Providers/EventStream/EventStreamDecoder.cs" "**/Providers/EventStream/EventStreamHeader.cs" "**/Providers/EventStream/EventStreamFrame.cs"
    tests "(FullyQualifiedName~Gapura.Tests.Providers.EventStream.EventStreamDecoderTests.&FullyQualifiedName!~Decode_throughput)" \
          "FullyQualifiedName~Gapura.Tests.Providers.EventStream.EventStreamDecoderMutation" \
          "FullyQualifiedName~Gapura.Tests.Providers.EventStream.EventStreamHeaderMutation" ;;
  sse)
    mutate "**/Formats/Anthropic/AnthropicSseWriter.cs" "**/Formats/OpenAi/OpenAiChatSseWriter.cs" "**/Formats/Responses/ResponsesSseWriter.cs"
    tests "FullyQualifiedName~Gapura.Tests.Formats.AnthropicWriter" "FullyQualifiedName~Gapura.Tests.Formats.AnthropicSseWriter" \
          "FullyQualifiedName~Gapura.Tests.Formats.OpenAiChatWriter" "FullyQualifiedName~Gapura.Tests.Formats.OpenAiChatSseWriter" \
          "FullyQualifiedName~Gapura.Tests.Formats.ResponsesWriter" "FullyQualifiedName~Gapura.Tests.Formats.ResponsesSseWriter" ;;
  routing)
    mutate "**/Routing/RequestRouter.cs"
    tests "FullyQualifiedName~Gapura.Tests.Routing.SqliteRequestRouter" "FullyQualifiedName~Gapura.Tests.Routing.RequestRouterMutation" ;;
  *) echo "unknown area '$area': one of identity, secrets, eventstream, sse, routing (or none for all)" >&2; exit 2 ;;
esac

# The Razor SDK turns on Roslyn's tokenizer for .razor files with Features=use-roslyn-tokenizer=true; Stryker 5.1
# re-runs the Razor generator itself and passes each Features entry whole as a key, so the generator falls back to
# the old tokenizer, which cannot read the raw string literals in some pages, and the mutated build fails. The bare
# flag, set here for this command only, reaches the generator under the right key; a normal build is unchanged.
export Features="use-roslyn-tokenizer${Features:+;$Features}"

cd "$root"
dotnet tool restore >/dev/null
cd "$root/tests/Gapura.Tests"
start=$(date +%s)
dotnet stryker --config-file "$here/stryker-config.json" --output "$here/reports/$area" --skip-version-check "${narrow[@]}" "$@"
echo "mutation testing ($area) took $(( $(date +%s) - start )) s; report: tests/mutation/reports/$area/reports/mutation-report.html"
