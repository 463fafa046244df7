using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace KestrelWsTransport.Interop.Infrastructure;

/// <summary>Runs a command to completion with a hard timeout; the process tree is killed when the timeout passes.</summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError, bool TimedOut, TimeSpan Elapsed)
    {
        public string Describe() =>
            $"exit code {(TimedOut ? "(timed out)" : ExitCode.ToString())} after {Elapsed.TotalMilliseconds:F0} ms\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
    }

    /// <summary>Runs <paramref name="fileName"/>; throws <see cref="Win32Exception"/> when it cannot be started (not on PATH).</summary>
    public static async Task<Result> RunAsync(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }
        }

        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + fileName);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }

                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        // The pipes close when the process (tree) is gone; bounded all the same.
        var output = await stdout.WaitAsync(TimeSpan.FromSeconds(10));
        var error = await stderr.WaitAsync(TimeSpan.FromSeconds(10));
        return new Result(timedOut ? -1 : process.ExitCode, output, error, timedOut, stopwatch.Elapsed);
    }
}
