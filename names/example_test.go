package names_test

import (
	"fmt"

	"github.com/pandadeploy/panda/names"
)

func ExampleRepo() {
	for _, s := range []string{"octo-org/app", "octo/..", "-x/app", "octo/a b"} {
		fmt.Println(s, "→", names.Repo(s))
	}
	// Output:
	// octo-org/app → <nil>
	// octo/.. → "octo/.." is not a repository owner/name: the name is reserved
	// -x/app → "-x/app" is not a repository owner/name: the owner starts with "-"
	// octo/a b → "octo/a b" is not a repository owner/name: the name contains ' '
}

func ExampleStateMachineARN() {
	for _, s := range []string{
		"arn:aws:states:ap-northeast-2:123456789012:stateMachine:panda-bluegreen",
		"arn:aws-foo:states:us-east-1:123456789012:stateMachine:m",
		"arn:aws-cn:states:us-east-1:123456789012:stateMachine:m",
	} {
		a, err := names.StateMachineARN(s)
		fmt.Println(a.Partition, a.Region, err)
	}
	// Output:
	// aws ap-northeast-2 <nil>
	//   "arn:aws-foo:states:us-east-1:123456789012:stateMachine:m" is not a state machine ARN: "aws-foo" is not an AWS partition
	//   "arn:aws-cn:states:us-east-1:123456789012:stateMachine:m" is not a state machine ARN: region us-east-1 is in partition aws, not aws-cn
}
