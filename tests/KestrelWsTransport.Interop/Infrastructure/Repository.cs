namespace KestrelWsTransport.Interop.Infrastructure;

/// <summary>Paths in the repository this test assembly was built from.</summary>
public static class Repository
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "KestrelWsTransport.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Repository root (KestrelWsTransport.sln) not found above " + AppContext.BaseDirectory);
    });

    public static string Root => s_root.Value;

    /// <summary>tests/KestrelWsTransport.Interop in the source tree (not bin): the node client lives there with its node_modules.</summary>
    public static string InteropProject => Path.Combine(Root, "tests", "KestrelWsTransport.Interop");

    /// <summary>artifacts/interop at the repository root (ignored by git): screenshots and the observations of every row.</summary>
    public static string ArtifactsDirectory
    {
        get
        {
            var path = Path.Combine(Root, "artifacts", "interop");
            Directory.CreateDirectory(path);
            return path;
        }
    }
}
