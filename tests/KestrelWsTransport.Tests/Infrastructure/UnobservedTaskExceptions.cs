using System.Collections.Concurrent;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>
/// Records <see cref="TaskScheduler.UnobservedTaskException"/> while alive. A faulted task nobody awaited is reported
/// only when the GC finalizes it, so <see cref="Collect"/> forces collections and runs finalizers first. Whatever earlier
/// tests left unobserved is flushed (and ignored) when recording starts.
/// </summary>
public sealed class UnobservedTaskExceptions : IDisposable
{
    private readonly ConcurrentQueue<Exception> _seen = new();

    public UnobservedTaskExceptions()
    {
        FlushFinalizers();
        TaskScheduler.UnobservedTaskException += OnUnobserved;
    }

    /// <summary>Forces the unreachable faulted tasks to be finalized, then returns every exception reported so far.</summary>
    public IReadOnlyList<Exception> Collect()
    {
        FlushFinalizers();
        return _seen.ToArray();
    }

    public void Dispose() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => _seen.Enqueue(e.Exception);

    private static void FlushFinalizers()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        GC.Collect();
    }
}
