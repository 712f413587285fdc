/** The part of seek-bzip (pure-JS bzip2 decoding, CommonJS) the sklearn reader uses. */
declare module "seek-bzip" {
  interface BzInput {
    readByte(): number;
    read(buffer: Uint8Array, offset: number, length: number): number;
    seek(pos: number): void;
    eof(): boolean;
  }
  interface BzOutput {
    writeByte(byte: number): void;
  }
  const Bunzip: {
    decode(input: BzInput, output: BzOutput, multistream?: boolean): void;
  };
  export default Bunzip;
}
