# Build script. Run from anywhere: dotnet pwsh ./build.ps1 [target] [extra args]
# Targets: build, test (default), bench, conformance, pack.
# Extra args go to the dotnet command (for bench: to the benchmark program).
param([string]$Target = 'test', [Parameter(ValueFromRemainingArguments)]$Rest)
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false   # we check $LASTEXITCODE ourselves
Set-Location $PSScriptRoot

$Solution = 'KestrelWsTransport.sln'
$Rest = @($Rest | Where-Object { $null -ne $_ })

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
        Write-Host "Unknown target '$Target'. Targets: build, test, bench, conformance, pack" -ForegroundColor Red
        exit 2
    }
}
