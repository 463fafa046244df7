using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Tests.Infrastructure;

public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>Keeps every log event so tests can assert that bad input was logged.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    public IEnumerable<LogEntry> Named(string eventName) => _entries.Where(e => e.EventId.Name == eventName);

    /// <summary>Waits (bounded) until an event with this name was logged; the handler may still be finishing.</summary>
    public async Task<LogEntry> WaitForAsync(string eventName, TimeSpan? timeout = null, Func<LogEntry, bool>? where = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            var entry = Named(eventName).FirstOrDefault(e => where?.Invoke(e) ?? true);
            if (entry is not null)
            {
                return entry;
            }

            await Task.Delay(20);
        }

        throw new AssertionException($"No '{eventName}' log event within the timeout. Events: {string.Join(", ", _entries.Select(e => e.EventId.Name).Distinct())}");
    }

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner._entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
