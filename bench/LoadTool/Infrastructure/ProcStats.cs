using System.Diagnostics;

namespace LoadTool.Infrastructure;

/// <summary>CPU time and memory of a process from /proc (Linux), for the server under test and for this tool.</summary>
internal static class ProcStats
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux architecture .NET runs on.
    private const double ClockTicksPerSecond = 100;

    /// <summary>User + system CPU seconds of every thread of <paramref name="pid"/>, or null if it cannot be read.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); utime is field 14, stime field 15.
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / ClockTicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Resident set size in KiB (VmRSS of /proc/&lt;pid&gt;/status), or null.</summary>
    public static long? RssKiB(int pid) => StatusField(pid, "VmRSS:");

    /// <summary>Threads of <paramref name="pid"/> (Threads: of /proc/&lt;pid&gt;/status), or null.</summary>
    public static long? Threads(int pid) => StatusField(pid, "Threads:");

    /// <summary>Peak resident set size in KiB (VmHWM), or null.</summary>
    public static long? PeakRssKiB(int pid) => StatusField(pid, "VmHWM:");

    /// <summary>Open file descriptors of <paramref name="pid"/>, or null.</summary>
    public static int? OpenFiles(int pid)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The soft "Max open files" limit of <paramref name="pid"/> (or this process), or null.</summary>
    public static long? OpenFileLimit(int? pid = null)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{(pid is { } p ? p.ToString() : "self")}/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts[0] == "unlimited" ? long.MaxValue : long.Parse(parts[0]);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return null;
    }

    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    public static double OwnCpuSeconds()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }

    private static long? StatusField(int pid, string name)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                {
                    return long.Parse(line[name.Length..].Trim().Split(' ')[0]);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return null;
    }
}

/// <summary>CPU use of this tool and of the server over one measured interval.</summary>
internal sealed class CpuMeter
{
    private readonly int? _serverPid;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly double _ownStart;
    private readonly double? _serverStart;

    private CpuMeter(int? serverPid)
    {
        _serverPid = serverPid;
        _ownStart = ProcStats.OwnCpuSeconds();
        _serverStart = serverPid is { } pid ? ProcStats.CpuSeconds(pid) : null;
    }

    public static CpuMeter Start(int? serverPid) => new(serverPid);

    public (double Elapsed, double OwnCpu, double? ServerCpu) Stop()
    {
        var elapsed = _clock.Elapsed.TotalSeconds;
        var own = ProcStats.OwnCpuSeconds() - _ownStart;
        double? server = _serverPid is { } pid && _serverStart is { } start && ProcStats.CpuSeconds(pid) is { } end ? end - start : null;
        return (elapsed, own, server);
    }
}
