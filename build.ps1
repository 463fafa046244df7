# Build script. Run from anywhere: dotnet pwsh ./build.ps1 [target] [extra args]
# Targets: build, test (default), bench (the side-by-side comparison with the middleware and a raw Kestrel echo),
# micro (BenchmarkDotNet), conformance, pack.
# Extra args go to the dotnet command (for micro: to the benchmark program; for bench: NAME=VALUE settings of
# bench/run-comparison.sh, e.g. RUNS=1 SCENARIOS=echo). A "--" before them is accepted and dropped.
# No param() block: with pwsh -File, a "--" argument would bind as an (ambiguous) parameter name.
$Target = if ($args.Count -gt 0 -and $args[0] -ne '--') { [string]$args[0] } else { 'test' }
$Rest = @($args | Select-Object -Skip ($(if ($args.Count -gt 0 -and $args[0] -ne '--') { 1 } else { 0 })) | Where-Object { $_ -ne '--' })
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false   # we check $LASTEXITCODE ourselves
Set-Location $PSScriptRoot

$Solution = 'KestrelWsTransport.sln'

function Assert-ExitCode([string]$What) {
    if ($LASTEXITCODE -ne 0) {
        Write-Host "$What failed (exit code $LASTEXITCODE)" -ForegroundColor Red
        exit $LASTEXITCODE
    }
}

function Assert-Exists([string]$Project) {
    if (-not (Test-Path "$Project/*.csproj")) {
        Write-Host "$Project does not exist yet" -ForegroundColor Red
        exit 1
    }
}

# Sums the <Counters> of every trx file in $Dir. The VSTest trx logger only fills
# total, executed, passed and failed; skipped tests are total - executed.
function Get-TrxTotals([string]$Dir) {
    $total = 0; $passed = 0; $failed = 0
    foreach ($file in Get-ChildItem -Path $Dir -Filter *.trx -ErrorAction SilentlyContinue) {
        $c = ([xml](Get-Content -Raw -LiteralPath $file.FullName)).TestRun.ResultSummary.Counters
        $total += [int]$c.total
        $passed += [int]$c.passed
        $failed += [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
    }
    [pscustomobject]@{ Passed = $passed; Failed = $failed; Skipped = [Math]::Max(0, $total - $passed - $failed) }
}

# Runs dotnet test with a trx logger, prints "N passed, N failed[, N skipped]",
# and exits non-zero when dotnet test failed, a test failed or no test ran.
function Invoke-Tests([string]$Path, [string]$ResultsDir) {
    Remove-Item -Recurse -Force $ResultsDir -ErrorAction SilentlyContinue
    dotnet test $Path -c Release --logger trx --results-directory $ResultsDir @Rest
    $code = $LASTEXITCODE
    $t = Get-TrxTotals $ResultsDir
    $summary = "$($t.Passed) passed, $($t.Failed) failed"
    if ($t.Skipped -gt 0) { $summary += ", $($t.Skipped) skipped" }
    if ($code -ne 0) { Write-Host "dotnet test failed (exit code $code)" -ForegroundColor Red }
    if ($t.Passed + $t.Failed -eq 0) { Write-Host "No test ran (no results in $ResultsDir)" -ForegroundColor Red }
    Write-Host $summary
    if ($code -ne 0 -or $t.Failed -gt 0 -or $t.Passed + $t.Failed -eq 0) { exit 1 }
}

switch ($Target) {
    'build' {
        dotnet build $Solution -c Release @Rest
        Assert-ExitCode 'dotnet build'
    }
    'test' {
        Invoke-Tests $Solution 'artifacts/test-results'
    }
    'bench' {
        # Release builds of the sample, the peers and the load tool; each server pinned to one core and the load tool
        # to the other; warm-up, 3 runs per scenario, medians and ratios, JSON, then PNG charts (see docs/benchmarks.md).
        $settings = @{}
        foreach ($pair in $Rest) {
            if ($pair -notmatch '^([A-Z_]+)=(.*)$') { Write-Host "bench takes NAME=VALUE settings, not '$pair'" -ForegroundColor Red; exit 2 }
            $settings[$Matches[1]] = $Matches[2]
        }
        foreach ($key in $settings.Keys) { [Environment]::SetEnvironmentVariable($key, $settings[$key]) }
        bash bench/run-comparison.sh
        Assert-ExitCode 'bench/run-comparison.sh'
    }
    'micro' {
        $project = 'bench/KestrelWsTransport.Benchmarks'
        Assert-Exists $project
        dotnet run -c Release --project $project -- @Rest
        Assert-ExitCode 'benchmarks'
    }
    'conformance' {
        $project = 'tests/KestrelWsTransport.Conformance'
        Assert-Exists $project
        Invoke-Tests $project 'artifacts/conformance-results'
    }
    'pack' {
        dotnet pack src/KestrelWsTransport -c Release -o artifacts/packages @Rest
        Assert-ExitCode 'dotnet pack'
    }
    default {
        Write-Host "Unknown target '$Target'. Targets: build, test, bench, micro, conformance, pack" -ForegroundColor Red
        exit 2
    }
}
