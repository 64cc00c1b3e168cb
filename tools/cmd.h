/* cmd.h — the subcommands of `rlaifv`, one per tools/cmd_<name>.c.
 * Each takes argv with argv[0] = the subcommand name and returns the process exit status. */
#ifndef RLV_CMD_H
#define RLV_CMD_H

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
