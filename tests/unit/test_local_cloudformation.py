"""The deployable copy of a template for moto's CloudFormation: what moto lacks is left out, and
the references to it stand in for it."""

from __future__ import annotations

from local.cloudformation import deployable_copy, placeholder

TEMPLATE = {
    "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "h.handler"}},
        "Live": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"}, "Name": "live"}},
        "Invoke": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {"FunctionName": {"Ref": "Live"}, "Principal": "apigateway.amazonaws.com"},
        },
        "Alarm": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {"AlarmRule": "x"}},
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": {"Ref": "Alarm"}},
            "DependsOn": ["Alarm", "Fn"],
        },
    }
}


def test_an_alias_stands_for_its_function_and_other_missing_types_for_a_placeholder():
    copy, left_out = deployable_copy(TEMPLATE)
    assert left_out == {"Live": "AWS::Lambda::Alias", "Alarm": "AWS::CloudWatch::CompositeAlarm"}
    assert set(copy["Resources"]) == {"Fn", "Invoke", "Topic"}
    assert copy["Resources"]["Invoke"]["Properties"]["FunctionName"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    topic = copy["Resources"]["Topic"]
    assert topic["Properties"]["DisplayName"] == placeholder("Alarm")
    assert topic["DependsOn"] == ["Fn"]
    assert TEMPLATE["Resources"]["Invoke"]["Properties"]["FunctionName"] == {"Ref": "Live"}  # untouched
