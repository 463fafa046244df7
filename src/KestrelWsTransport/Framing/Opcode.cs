namespace KestrelWsTransport.Framing;

/// <summary>Frame opcodes of RFC 6455 section 5.2.</summary>
internal enum Opcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

internal static class OpcodeExtensions
{
    /// <summary>Control frames have the high bit of the opcode set (RFC 6455 section 5.5).</summary>
    public static bool IsControl(this Opcode opcode) => ((byte)opcode & 0x8) != 0;

    /// <summary>0x3-0x7 and 0xB-0xF are reserved for further (non-)control frames.</summary>
    public static bool IsDefined(this Opcode opcode) => opcode is Opcode.Continuation or Opcode.Text or Opcode.Binary
        or Opcode.Close or Opcode.Ping or Opcode.Pong;
}
